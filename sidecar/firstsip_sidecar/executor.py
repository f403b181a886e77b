"""Runs one plugin execution in a child process and stops it for real.

The child (:mod:`firstsip_sidecar.runner`) starts a new session, so it leads its own process
group; a timeout, a cancel or a shutdown kills the whole group (the plugin's own child processes
included) with SIGKILL.
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
from typing import Any, Awaitable, Callable, Dict, Optional

from .plugins import PluginManifest
from .types import ExecutionOutcome

logger = logging.getLogger("firstsip.executor")

StepCallback = Callable[[str, Optional[str]], Awaitable[None]]
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MAX_LINE = 64 * 1024 * 1024
# Plugins get their run's opened secrets, never the key that opens every run's secrets.
_WITHHELD = frozenset({"FIRSTSIP_SEAL_KEY"})


class Execution:
    """One execution of a plugin in a child process.

    :param manifest: the plugin.
    :param run_id: the run id.
    :param attempt: the attempt number.
    :param settings: the merged settings.
    :param secrets: the opened secrets (passed on the child's standard input only).
    :param timeout_seconds: the execution timeout.
    :param on_step: awaited for each step the plugin reports.
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
    ) -> None:
        self.manifest = manifest
        self.run_id = run_id
        self.attempt = attempt
        self.settings = settings
        self._secrets = secrets
        self.timeout_seconds = timeout_seconds
        self.on_step = on_step
        self.cancelled = asyncio.Event()
        self.killed = asyncio.Event()
        self.cancel_reason: Optional[str] = None
        self.process: Optional[asyncio.subprocess.Process] = None

    def cancel(self, reason: Optional[str] = None) -> None:
        """Asks the execution to stop; it ends failed with ``cancelled``."""
        self.cancel_reason = reason
        self.cancelled.set()

    def kill(self) -> None:
        """Kills the execution for a shutdown; it ends without a result."""
        self.killed.set()

    def _kill_group(self) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def _job(self, deadline: float) -> bytes:
        job = {
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
        return json.dumps(job, ensure_ascii=False).encode("utf-8")

    async def run(self) -> Optional[ExecutionOutcome]:
        """Executes the plugin.

        :returns: the outcome, or ``None`` when the execution was killed by :meth:`kill` (a
            shutdown: the request stays pending for another worker).
        """
        deadline = time.time() + self.timeout_seconds
        env = {name: value for name, value in os.environ.items() if name not in _WITHHELD}
        env["PYTHONPATH"] = _PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "firstsip_sidecar.runner",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=env,
            cwd=self.manifest.directory,
            limit=_MAX_LINE,
        )
        reader = asyncio.ensure_future(self._read(deadline))
        cancelled = asyncio.ensure_future(self.cancelled.wait())
        killed = asyncio.ensure_future(self.killed.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, cancelled, killed},
                timeout=max(deadline - time.time(), 0.0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if reader in done:
                try:
                    return reader.result()
                except (ValueError, OSError) as error:  # e.g. a line over the size limit
                    return ExecutionOutcome.failed(f"cannot read the plugin's result: {error}")
            self._kill_group()
            if killed in done:
                return None
            if cancelled in done:
                return ExecutionOutcome.failed("cancelled", kind="cancelled")
            return ExecutionOutcome.failed(f"timed out after {self.timeout_seconds:g} s", kind="timed_out")
        finally:
            for task in (reader, cancelled, killed):
                task.cancel()
            self._kill_group()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.wait(), timeout=10)

    async def _read(self, deadline: float) -> ExecutionOutcome:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(self._job(deadline))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            process.stdin.close()
        result: Optional[Dict[str, Any]] = None
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                logger.warning("run %s: ignoring a malformed line from the plugin process", self.run_id)
                continue
            if message.get("type") == "step":
                await self.on_step(str(message.get("step")), message.get("message"))
            elif message.get("type") == "result":
                result = message
        code = await process.wait()
        if result is None:
            return ExecutionOutcome.failed(f"the plugin process exited with code {code} without a result")
        if result.get("status") == "completed":
            return ExecutionOutcome.completed(str(result.get("output")))
        retryable = bool(result.get("retryable"))
        return ExecutionOutcome.failed(
            str(result.get("error") or "failed"), kind="retry" if retryable else "failed", retryable=retryable
        )
