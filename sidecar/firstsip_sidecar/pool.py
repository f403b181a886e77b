"""The warm pool: pre-started plugin processes, so a run costs milliseconds, not an interpreter start.

A worker keeps ``SIDECAR_CONCURRENCY`` processes (:mod:`firstsip_sidecar.pool_process`), started
with the worker, each leading a process group of its own. A process imports the runner when it
starts and, on its first run, the one plugin it then serves; later runs of that plugin reuse it.
A run goes to an idle process that already serves its plugin, else to a fresh one; when every idle
process serves another plugin, one of them is replaced by a fresh process.

The isolation guarantees of a process per run stay:

- A timeout, a cancel, a stop signal, a lost lease or a shutdown kills the executing process's whole
  group (the plugin's own child processes included) and a fresh process takes its place.
- A process whose run left a child process running (it adopts orphans, so it sees grandchildren
  too) is not reused: its group is killed and replaced.
- A process dies with its worker (the kernel's parent-death signal, :mod:`~firstsip_sidecar.lifeline`)
  and stops its group when its run's lease runs out, as the one-shot runner does.
- Each run gets its own environment, secrets and working folder (see :mod:`~firstsip_sidecar.pool_process`
  for what a process keeps between runs).

A process is recycled (killed and replaced) after ``SIDECAR_POOL_MAX_RUNS`` runs or once its
resident memory after a run exceeds ``SIDECAR_POOL_MAX_MEMORY_MB``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Dict, List, Optional, Set

from .pool_process import RUN_END_MARK
from .redaction import Redactor

logger = logging.getLogger("firstsip.pool")
plugin_logger = logging.getLogger("firstsip.plugin")

_MAX_LINE = 64 * 1024 * 1024


class PoolProcess:
    """One pooled process, owned by at most one execution at a time.

    :param process: the child process.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self.plugin: Optional[str] = None
        self.runs = 0
        self.run_id: Optional[str] = None
        self.env: Optional[Dict[str, str]] = None
        """The environment last sent to the process (a job without ``env`` runs in it again)."""
        self.redactor = Redactor()
        self._ends: Dict[str, asyncio.Event] = {}
        self._relay = asyncio.ensure_future(self._relay_stderr())

    @property
    def alive(self) -> bool:
        """False once the process has exited."""
        return self.process.returncode is None

    def begin(self, run_id: str, redactor: Redactor) -> asyncio.Event:
        """Marks the start of a run; returns the event set when the run's standard error is drained."""
        self.run_id = run_id
        self.redactor = redactor
        event = asyncio.Event()
        self._ends[run_id] = event
        return event

    def kill(self) -> None:
        """SIGKILLs the process's whole group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Waits for the process to exit and for its standard error to be relayed (bounded)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), timeout=timeout)
        if self.process.stdin is not None:
            with contextlib.suppress(Exception):
                self.process.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self._relay), timeout=1.0)
        self._relay.cancel()

    async def _relay_stderr(self) -> None:
        """Logs the process's standard error line by line, redacted for the run that wrote it."""
        stream = self.process.stderr
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                line = await stream.read(65536)
            if not line:
                for event in self._ends.values():
                    event.set()
                return
            text = line.decode("utf-8", errors="replace").rstrip("\n")
            if text.startswith(RUN_END_MARK):
                event = self._ends.pop(text[len(RUN_END_MARK):].strip(), None)
                if event is not None:
                    event.set()
                continue
            if self.run_id is not None:
                plugin_logger.info("run %s: %s", self.run_id, self.redactor.text(text))
            else:
                plugin_logger.info("pool process %d: %s", self.pid, self.redactor.text(text))


class ProcessPool:
    """Pre-started plugin processes for one worker.

    :param size: the number of processes (the worker's concurrency).
    :param env: the processes' environment (each run's own is set per run).
    :param max_runs: runs after which a process is replaced; 0 for no limit.
    :param max_memory_bytes: resident memory after a run above which a process is replaced; 0 for no limit.
    """

    def __init__(self, size: int, *, env: Dict[str, str], max_runs: int = 0, max_memory_bytes: int = 0) -> None:
        self.size = max(int(size), 1)
        self.env = dict(env)
        self.max_runs = max_runs
        self.max_memory_bytes = max_memory_bytes
        self._idle: List[PoolProcess] = []
        self._busy: Set[PoolProcess] = set()
        self._starting = 0
        self._changed = asyncio.Condition()
        self._waiting = 0
        self._closed = False
        self._retiring: Set[asyncio.Task] = set()
        self.started_processes = 0
        self.recycled = 0

    @property
    def pids(self) -> List[int]:
        """The pids of the pool's live processes (idle and busy)."""
        return sorted(p.pid for p in list(self._idle) + list(self._busy) if p.alive)

    async def start(self) -> None:
        """Starts every process (they import the runner while the worker goes on)."""
        for _ in range(self.size):
            self._idle.append(await self._spawn())

    async def _spawn(self) -> PoolProcess:
        env = dict(self.env)
        env["FIRSTSIP_WORKER_PID"] = str(os.getpid())
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "firstsip_sidecar.pool_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=env,
            limit=_MAX_LINE,
        )
        self.started_processes += 1
        return PoolProcess(process)

    async def acquire(self, plugin: str) -> PoolProcess:
        """An idle process for a run of ``plugin``: one serving it, else a fresh one.

        :param plugin: the plugin's identity (name and folder); a process serves one plugin.
        """
        async with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the process pool is closed")
                self._idle = [p for p in self._idle if p.alive or self._discard_dead(p)]
                chosen = next((p for p in self._idle if p.plugin == plugin), None)
                chosen = chosen or next((p for p in self._idle if p.plugin is None), None)
                if chosen is None and self._idle:
                    # Every idle process serves another plugin: replace the least used one.
                    stale = min(self._idle, key=lambda p: p.runs)
                    self._idle.remove(stale)
                    self._retire(stale, "it serves another plugin")
                    self._starting += 1
                    try:
                        chosen = await self._spawn()
                    finally:
                        self._starting -= 1
                    self._idle.append(chosen)
                if chosen is not None:
                    self._idle.remove(chosen)
                    self._busy.add(chosen)
                    chosen.plugin = plugin
                    return chosen
                self._waiting += 1
                try:
                    await self._changed.wait()
                finally:
                    self._waiting -= 1

    def _discard_dead(self, process: PoolProcess) -> bool:
        self._retire(process, "it exited")
        self._replace()
        return False

    def release(self, process: PoolProcess, *, reusable: bool, rss_bytes: int = 0) -> None:
        """Gives a process back after its run; it is replaced instead when it must not be reused.

        :param reusable: False when the run did not end cleanly (killed, stopped, left a process
            running, or its output could not be drained).
        :param rss_bytes: the process's resident memory after the run.
        """
        self._busy.discard(process)
        process.runs += 1
        process.run_id = None
        reason = None
        if not reusable or not process.alive:
            reason = "its run did not end cleanly"
        elif self.max_runs and process.runs >= self.max_runs:
            reason = f"it ran {process.runs} runs"
        elif self.max_memory_bytes and rss_bytes > self.max_memory_bytes:
            reason = f"it holds {rss_bytes // (1024 * 1024)} MiB"
        if reason is None and not self._closed:
            self._idle.append(process)
            self._notify()
            return
        self._retire(process, reason or "the pool is closed")
        self._replace()

    def _retire(self, process: PoolProcess, reason: str) -> None:
        self._busy.discard(process)
        self.recycled += 1
        logger.debug("pool process %d replaced: %s", process.pid, reason)
        process.kill()
        task = asyncio.ensure_future(process.wait_closed())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _replace(self) -> None:
        if self._closed:
            return
        self._starting += 1

        async def spawn() -> None:
            try:
                fresh = await self._spawn()
            except Exception as error:  # a failed start is retried by the next acquire
                logger.error("starting a pool process failed: %s", error)
                fresh = None
            finally:
                self._starting -= 1
            if fresh is not None:
                if self._closed:
                    fresh.kill()
                    await fresh.wait_closed()
                    return
                self._idle.append(fresh)
            async with self._changed:
                self._changed.notify_all()

        task = asyncio.ensure_future(spawn())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _notify(self) -> None:
        if not self._waiting:
            return  # nobody waits for a process (the usual case: a run's slot is taken only after its process is free)

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        task = asyncio.ensure_future(notify())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Kills every process's group and waits for them."""
        self._closed = True
        processes = list(self._idle) + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for process in processes:
            process.kill()
        await asyncio.gather(*(p.wait_closed() for p in processes), return_exceptions=True)
        if self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)
        async with self._changed:
            self._changed.notify_all()
