"""Runs one plugin execution in a child process and stops it for real.

The child (:mod:`firstsip_sidecar.runner`) starts a new session, so it leads its own process
group; a timeout, a cancel, a lost lease or a shutdown kills the whole group (the plugin's own
child processes included) with SIGKILL. The child also kills its group by itself when the lease it
was last told about (:meth:`Execution.extend_lease`) runs out, so an execution never outlives its
lease even when this worker's event loop stalls.

The child's standard error (its own and its processes' prints, tracebacks) is read line by line,
redacted and logged under ``firstsip.plugin``; nothing the plugin writes reaches the logs unredacted.

With a :class:`~firstsip_sidecar.pool.ProcessPool` the execution runs in a pre-started pooled
process instead (:mod:`firstsip_sidecar.pool_process`); every ending but a result kills that
process's group as it would kill a one-shot child, and the pool puts a fresh process in its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional, Tuple

from .environment import plugin_environment
from .plugins import PluginManifest
from .redaction import Redactor
from .types import ExecutionOutcome

if TYPE_CHECKING:
    from .pool import PoolProcess, ProcessPool

logger = logging.getLogger("firstsip.executor")
plugin_logger = logging.getLogger("firstsip.plugin")

StepCallback = Callable[[str, Optional[str]], Awaitable[None]]
_MAX_LINE = 64 * 1024 * 1024
_STDERR_DRAIN_SECONDS = 1.0


def retry_delay_ms(defer: Any) -> Optional[int]:
    """A plugin's ``Retry(defer=...)`` seconds as whole milliseconds, or ``None`` when it asked for no delay."""
    try:
        seconds = float(defer)
    except (TypeError, ValueError):
        return None
    if not seconds > 0 or seconds == float("inf"):
        return None
    return int(round(seconds * 1000))


class Execution:
    """One execution of a plugin in a child process.

    :param manifest: the plugin.
    :param run_id: the run id.
    :param attempt: the attempt number.
    :param settings: the merged settings.
    :param secrets: the opened secrets (passed on the child's standard input only).
    :param timeout_seconds: how long the execution may run (the execution timeout or the time
        left to the run's deadline, whichever is smaller).
    :param on_step: awaited for each step the plugin reports.
    :param env: the child's complete environment; by default the allowlist plus the manifest's
        ``env`` (see :mod:`firstsip_sidecar.environment`).
    :param timeout_error: the error text when ``timeout_seconds`` ends the execution.
    :param lease_ms: the time the child may run before it hears of a lease extension, or
        ``None`` for no lease watch.
    :param redactor: hides the run's secrets in the child's standard error lines.
    :param pool: run in a pooled process of this pool; ``None`` for a fresh process.
    """

    def __init__(
        self,
        *,
        manifest: PluginManifest,
        run_id: str,
        attempt: int,
        settings: Dict[str, Any],
        secrets: Dict[str, str],
        timeout_seconds: float,
        on_step: StepCallback,
        env: Optional[Dict[str, str]] = None,
        timeout_error: Optional[str] = None,
        lease_ms: Optional[int] = None,
        redactor: Optional[Redactor] = None,
        pool: Optional["ProcessPool"] = None,
    ) -> None:
        self.manifest = manifest
        self.pool = pool
        self.pooled: Optional["PoolProcess"] = None
        self.run_id = run_id
        self.attempt = attempt
        self.settings = settings
        self._secrets = secrets
        self.timeout_seconds = timeout_seconds
        self.timeout_error = timeout_error or f"timed out after {timeout_seconds:g} s"
        self.on_step = on_step
        self.env = env if env is not None else plugin_environment(manifest.env)
        self.redactor = redactor or Redactor()
        self.cancelled = asyncio.Event()
        self.killed = asyncio.Event()
        # Done once a cancel or a kill asks the execution to stop (what :meth:`_wait_for_outcome` waits on).
        self._stop: Optional[asyncio.Future] = None
        self.cancel_reason: Optional[str] = None
        self.abandon_reason: Optional[str] = None
        self.process: Optional[asyncio.subprocess.Process] = None
        self._lease_ms = lease_ms
        self._result: Optional[Dict[str, Any]] = None
        # Monotonic time (this process) at which the child stops itself unless told otherwise.
        self._lease_deadline: Optional[float] = None if lease_ms is None else time.monotonic() + lease_ms / 1000.0

    def cancel(self, reason: Optional[str] = None) -> None:
        """Asks the execution to stop; it ends failed with ``kind`` ``cancelled``."""
        self.cancel_reason = reason
        self.cancelled.set()
        self._wake()

    def kill(self) -> None:
        """Kills the execution for a shutdown; it ends without a result."""
        self.killed.set()
        self._wake()

    def abandon(self, reason: str) -> None:
        """Kills the execution because the run is no longer this worker's (its lease was lost).

        It ends without a result, and its request is not acknowledged.
        """
        if self.abandon_reason is None:
            self.abandon_reason = reason
        self.killed.set()
        self._wake()

    def _wake(self) -> None:
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)

    def extend_lease(self, remaining_ms: int) -> None:
        """Tells the child its lease holds ``remaining_ms`` more milliseconds (safety margin already taken off)."""
        remaining_ms = max(int(remaining_ms), 0)
        self._lease_deadline = time.monotonic() + remaining_ms / 1000.0
        process = self.process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return
        with contextlib.suppress(Exception):
            process.stdin.write(
                json.dumps({"type": "lease", "run_id": self.run_id, "remaining_ms": remaining_ms}).encode("utf-8") + b"\n"
            )

    @property
    def lease_expired(self) -> bool:
        """True once the lease the child was last told about has run out (the child stops itself then)."""
        return self._lease_deadline is not None and time.monotonic() >= self._lease_deadline

    def _kill_group(self) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def _job(self, deadline: float) -> bytes:
        job: Dict[str, Any] = {
            "type": "job",
            "run_id": self.run_id,
            "attempt": self.attempt,
            "deadline": deadline,
            "settings": self.settings,
            "secrets": self._secrets,
            "plugin": {
                "name": self.manifest.name,
                "runtime": self.manifest.runtime,
                "directory": self.manifest.directory,
                "entry_file": self.manifest.entry_file(),
                "function": self.manifest.entry_function(),
            },
        }
        if self.pooled is not None and self.pooled.env is not self.env and self.pooled.env != self.env:
            # The process keeps the last environment it was sent: a job in the same one leaves it out.
            job["env"] = self.env
            self.pooled.env = self.env
        if self._lease_deadline is not None:
            job["lease_ms"] = max(int((self._lease_deadline - time.monotonic()) * 1000), 0)
        return json.dumps(job, ensure_ascii=False).encode("utf-8") + b"\n"

    async def run(self) -> Optional[ExecutionOutcome]:
        """Executes the plugin.

        :returns: the outcome, or ``None`` when the execution ended without one: killed by
            :meth:`kill` (a shutdown) or :meth:`abandon` (a lost lease), or stopped by the child
            itself when its lease ran out. The request then stays pending.
        """
        if self.pool is not None:
            return await self._run_pooled()
        deadline = time.time() + self.timeout_seconds
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "firstsip_sidecar.runner",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=self.env,
            cwd=self.manifest.directory,
            limit=_MAX_LINE,
        )
        relay = asyncio.ensure_future(self._relay_stderr())
        try:
            outcome, _ = await self._wait_for_outcome(deadline)
            return outcome
        finally:
            self._kill_group()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.wait(), timeout=10)
            if self.process.stdin is not None:
                with contextlib.suppress(Exception):
                    self.process.stdin.close()
            # A process that left the group may still hold standard error open: do not wait for it.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(relay), timeout=_STDERR_DRAIN_SECONDS)
            relay.cancel()

    async def _run_pooled(self) -> Optional[ExecutionOutcome]:
        assert self.pool is not None
        pool = self.pool
        pooled = await pool.acquire(f"{self.manifest.name}@{self.manifest.directory}")
        self.pooled = pooled
        self.process = pooled.process
        drained = pooled.begin(self.run_id, self.redactor)
        deadline = time.time() + self.timeout_seconds
        released = False
        try:
            outcome, answered = await self._wait_for_outcome(deadline)
            if answered and outcome is not None and self._result is not None:
                clean = not self._result.get("dirty") and not self.killed.is_set() and not self.cancelled.is_set()
                if clean and not drained.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(drained.wait(), timeout=_STDERR_DRAIN_SECONDS)
                clean = clean and drained.is_set() and pooled.alive
                pool.release(pooled, reusable=clean, rss_bytes=int(self._result.get("rss_bytes") or 0))
                released = True
            return outcome
        finally:
            if not released:
                pooled.kill()
                pool.release(pooled, reusable=False)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pooled.process.wait(), timeout=10)

    async def _wait_for_outcome(self, deadline: float) -> Tuple[Optional[ExecutionOutcome], bool]:
        """Waits for the child's answer, a cancel, a kill or the timeout, whichever comes first.

        :returns: the outcome (``None`` when the execution was abandoned: killed, or it stopped itself when its lease
            ran out) and whether the child answered on its own (a result read, or its own stop), as opposed to a cancel,
            a kill, the timeout or an unreadable answer, after which the process must not be used again.
        """
        self._stop = asyncio.get_running_loop().create_future()
        if self.cancelled.is_set() or self.killed.is_set():
            self._wake()
        reader = asyncio.ensure_future(self._read(deadline))
        try:
            done, _ = await asyncio.wait(
                {reader, self._stop}, timeout=max(deadline - time.time(), 0.0), return_when=asyncio.FIRST_COMPLETED,
            )
            if reader in done:
                try:
                    outcome = reader.result()
                except (ValueError, OSError) as error:  # e.g. a line over the size limit
                    return ExecutionOutcome.failed(f"cannot read the plugin's result: {error}"), False
                if outcome is None and self.abandon_reason is None:
                    self.abandon_reason = "its lease ran out before it was renewed; the execution stopped itself"
                return outcome, True
            if self.killed.is_set():
                return None, False
            if self.cancelled.is_set():
                return ExecutionOutcome.stopped(self.cancel_reason), False
            return ExecutionOutcome.failed(self.timeout_error, kind="timed_out"), False
        finally:
            reader.cancel()

    async def _relay_stderr(self) -> None:
        """Logs the child's standard error, one redacted line at a time."""
        stream = self.process.stderr if self.process is not None else None
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                line = await stream.read(65536)
            if not line:
                return
            text = line.decode("utf-8", errors="replace").rstrip("\n")
            plugin_logger.info("run %s: %s", self.run_id, self.redactor.text(text))

    async def _read(self, deadline: float) -> Optional[ExecutionOutcome]:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(self._job(deadline))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        result: Optional[Dict[str, Any]] = None
        expired = False
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                logger.warning("run %s: ignoring a malformed line from the plugin process", self.run_id)
                continue
            kind = message.get("type")
            if message.get("run_id", self.run_id) != self.run_id:
                continue  # a pooled process's line about an earlier run (a plugin thread that went on)
            if kind == "step":
                await self.on_step(str(message.get("step")), message.get("message"))
            elif kind == "result":
                result = message
                if self.pooled is not None:
                    break
            elif kind == "lease_expired":
                expired = True
        self._result = result
        if self.pooled is not None and result is not None:
            code = 0
        else:
            code = await process.wait()
        if result is None:
            if expired or (code == -signal.SIGKILL and self.lease_expired):
                return None
            return ExecutionOutcome.failed(f"the plugin process exited with code {code} without a result")
        if result.get("status") == "completed":
            return ExecutionOutcome.completed(str(result.get("output")))
        retryable = bool(result.get("retryable"))
        return ExecutionOutcome.failed(
            str(result.get("error") or "failed"),
            kind="retry" if retryable else "failed",
            retryable=retryable,
            retry_delay_ms=retry_delay_ms(result.get("defer")) if retryable else None,
        )
