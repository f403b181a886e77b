"""A pooled plugin process: ``python -m firstsip_sidecar.pool_process``, one run at a time, many runs.

The worker's :mod:`~firstsip_sidecar.pool` starts it in a process group of its own (it leads a new
session). It imports the runner once, then, for the first run, the one plugin it serves; later
runs of that plugin reuse the imported module. The protocol is the one-shot runner's
(:mod:`firstsip_sidecar.runner`), made per run:

- standard input carries ``{"type": "job", ...}`` lines (a job as the runner reads it, plus
  ``env``, the run's complete environment, left out when it is the one the previous job had) and lease extensions
  ``{"type": "lease", "run_id", "remaining_ms"}``;
- the original standard output carries ``{"type": "ready"}`` once, then per run
  ``{"type": "step", "run_id", ...}`` lines and one ``{"type": "result", "run_id", ...}`` with
  ``dirty`` (a process the run started still lives: the worker must not reuse this process) and
  ``rss_bytes``;
- after each run, standard error gets one line ``RUN_END_MARK <run id>`` once everything the run
  printed was flushed, so the worker logs each line under the run (and redactor) it belongs to.

Per run the process sets ``os.environ`` to exactly the run's environment (touching only the variables
that differ: clearing and refilling ``os.environ`` cost about half of a no-op run), so what one run
(or its plugin) put in ``os.environ`` never reaches the next, and its working folder to the plugin's;
it arms a lease watch (:class:`~firstsip_sidecar.runner.LeaseWatch`) with the run's lease and
disarms it when the run ends. What stays between runs: the
imported modules and their global state, threads the plugin left running, open files, caches.
A plugin that cannot live with that declares ``isolation: process`` in its manifest and gets a
fresh process per run.

A lease that runs out, the end of standard input (the worker is gone) or the worker's death (the
kernel's parent-death signal, :mod:`~firstsip_sidecar.lifeline`) kill the whole process group.
"""

from __future__ import annotations

if __name__ == "__main__":
    # First of all: the group dies with the worker (the kernel's parent-death signal).
    from firstsip_sidecar.lifeline import tie_to_parent

    tie_to_parent()

import gc
import json
import logging
import os
import queue
import sys
import threading
from types import ModuleType
from typing import IO, Any, Dict, Optional, Tuple

from .lifeline import become_subreaper, has_live_children, kill_own_group
from .runner import LeaseWatch, _Channel, _expire, execute, load_module

RUN_END_MARK = "\x1efirstsip-run-end"
"""Starts the standard error line that closes one run's output."""

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ResidentMemory:
    """This process's resident memory, read from Linux's ``/proc/self/statm`` (kept open: read after every run)."""

    def __init__(self) -> None:
        try:
            self._fd: Optional[int] = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None

    def bytes(self) -> int:
        """The resident memory in bytes, 0 where unknown."""
        if self._fd is None:
            return 0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * _PAGE_SIZE
        except (OSError, ValueError, IndexError):
            return 0


class ModuleCache:
    """Imports each plugin source file once; a file changed on disk is imported again."""

    def __init__(self) -> None:
        self._modules: Dict[str, Tuple[float, ModuleType]] = {}

    def load(self, name: str, path: str, plugin_dir: str) -> ModuleType:
        """:func:`~firstsip_sidecar.runner.load_module`, once per file and version."""
        try:
            stamp = os.stat(path).st_mtime
        except OSError:
            stamp = -1.0
        known = self._modules.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        module = load_module(name, path, plugin_dir)
        self._modules[path] = (stamp, module)
        return module


class _Runs:
    """The control input: jobs queued for the main thread, lease extensions applied to the run in progress."""

    def __init__(self, control: IO[bytes], watch: LeaseWatch) -> None:
        self._control = control
        self._watch = watch
        self._lock = threading.Lock()
        self._current: Optional[str] = None
        self.jobs: "queue.Queue[Dict[str, Any]]" = queue.Queue()

    def finish(self) -> None:
        """The run in progress ended: later extensions for it are ignored, the watch is disarmed."""
        with self._lock:
            self._current = None
            self._watch.disarm()

    def read(self) -> None:
        for line in self._control:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "job":
                with self._lock:
                    self._current = str(message.get("run_id"))
                    lease_ms = message.get("lease_ms")
                    if lease_ms is not None:
                        self._watch.extend(float(lease_ms))
                self.jobs.put(message)
            elif kind == "lease":
                with self._lock:
                    if self._current is not None and message.get("run_id") == self._current:
                        self._watch.extend(float(message.get("remaining_ms", 0)))
        kill_own_group()  # end of input: the worker is gone


def set_environment(wanted: Dict[str, str]) -> None:
    """Makes ``os.environ`` exactly ``wanted``, setting and removing only the variables that differ."""
    current = os.environ
    for name in [name for name in current if name not in wanted]:
        del current[name]
    for name, value in wanted.items():
        if current.get(name) != value:
            current[name] = value


class _Environments:
    """The environment each run gets: the one its job carries, else the previous job's (at first, the process's own)."""

    def __init__(self, start: Dict[str, str]) -> None:
        self._last = start

    def of(self, job: Dict[str, Any]) -> Dict[str, str]:
        env = job.get("env")
        if isinstance(env, dict):
            self._last = {str(k): str(v) for k, v in env.items()}
        return self._last


def _run_one(job: Dict[str, Any], channel: _Channel, modules: ModuleCache, envs: _Environments, home: str) -> Dict[str, Any]:
    set_environment(envs.of(job))
    try:
        os.chdir(job["plugin"]["directory"])
    except (OSError, KeyError):
        pass
    try:
        return execute(job, channel, loader=modules.load)
    finally:
        try:
            os.chdir(home)
        except OSError:
            pass


def main() -> int:
    """Entry point of the pooled process."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    control = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), sys.stdin.fileno())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    become_subreaper()
    channel = _Channel(protocol)
    watch = LeaseWatch(None, on_expiry=lambda: _expire(channel))
    runs = _Runs(control, watch)
    threading.Thread(target=watch.run, name="lease-watch", daemon=True).start()
    threading.Thread(target=runs.read, name="control", daemon=True).start()
    envs = _Environments(dict(os.environ))
    home = os.getcwd()
    modules = ModuleCache()
    memory = ResidentMemory()
    channel.send({"type": "ready", "pid": os.getpid()})
    while True:
        job = runs.jobs.get()
        run_id = str(job.get("run_id"))
        result = _run_one(job, channel, modules, envs, home)
        runs.finish()
        job = None  # the run's secrets and settings go with it
        gc.collect(0)
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(2, f"{RUN_END_MARK} {run_id}\n".encode("utf-8"))
        result.update(run_id=run_id, dirty=has_live_children(), rss_bytes=memory.bytes())
        channel.send(result)


if __name__ == "__main__":
    sys.exit(main())
