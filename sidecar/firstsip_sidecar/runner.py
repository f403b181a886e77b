"""The child process that executes one plugin run: ``python -m firstsip_sidecar.runner``.

The worker starts it in its own process group (so a timeout or a cancel can kill it and every
process it started), writes the job as one JSON line on standard input (the secrets travel only
there), and reads JSON lines from the child's original standard output: ``{"type": "step", ...}``
for each finished step and one ``{"type": "result", ...}`` at the end. The plugin's own prints
go to standard error, so they can never corrupt those lines; the plugin's standard input is
``/dev/null``.

After the job, standard input carries lease extensions, ``{"type": "lease", "remaining_ms": n}``:
the run's lease is known to be held for ``n`` more milliseconds (minus a safety margin the worker
already took off). The child kills its own process group when that time passes without a newer
extension, so an execution never outlives its lease even when its worker stalls and another worker
takes the run over. End of input (the worker is gone) kills the group at once. Durations, not
clock readings, cross the process boundary; each side measures them on its own monotonic clock.
"""

from __future__ import annotations

if __name__ == "__main__":
    # First of all: the group dies with the worker (the kernel's parent-death signal), so a run
    # whose worker died never goes on, unseen, next to the worker that reclaims it.
    from firstsip_sidecar.lifeline import tie_to_parent

    tie_to_parent()

import asyncio
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from types import ModuleType
from typing import IO, Any, Callable, Dict, Optional

from . import crews
from .lifeline import kill_own_group
from .context import PluginContext
from .errors import MissingDependencyError, PluginFailure, Retry
from .protocol import markdown_to_briefing

CREWAI_MISSING = (
    "crewai is not installed in this sidecar: install the crewai package (and crewai-tools for web "
    "search) into the sidecar's Python environment, as sidecar/Dockerfile does"
)


class _Channel:
    """Writes protocol lines to the worker."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Dict[str, Any], wait: float = -1) -> bool:
        """Writes one line; with ``wait`` >= 0, gives up (returns False) if another write holds the channel that long."""
        if not self._lock.acquire(timeout=wait):
            return False
        try:
            self._stream.write(json.dumps(message, ensure_ascii=False) + "\n")
            self._stream.flush()
            return True
        finally:
            self._lock.release()


def load_module(name: str, path: str, plugin_dir: str) -> ModuleType:
    """Imports a plugin's source file under a private module name.

    The plugin folder is put first on ``sys.path`` so the module can import its sibling files.
    """
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginFailure(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _call(function: Any, *args: Any) -> Any:
    value = function(*args)
    if inspect.isawaitable(value):
        return asyncio.run(_await(value))
    return value


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _output_text(value: Any) -> str:
    if isinstance(value, str):
        value = markdown_to_briefing(value)
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise PluginFailure(f"output is not JSON-serialisable: {error}") from None


Loader = Callable[[str, str, str], ModuleType]
"""Imports a plugin's source file: ``(module name, path, plugin folder) -> module``."""


def _run_python(job: Dict[str, Any], context: PluginContext, loader: Loader = load_module) -> Any:
    plugin = job["plugin"]
    module = loader(f"firstsip_plugin_{plugin['name'].replace('-', '_')}", plugin["entry_file"], plugin["directory"])
    function = getattr(module, plugin["function"], None)
    if not callable(function):
        raise PluginFailure(f"plugin {plugin['name']} has no function {plugin['function']}")
    return _call(function, job["settings"], context)


def _run_crewai(job: Dict[str, Any], context: PluginContext, loader: Loader = load_module) -> Any:
    if importlib.util.find_spec("crewai") is None:
        raise MissingDependencyError(CREWAI_MISSING)
    plugin = job["plugin"]
    module = loader(f"firstsip_crew_{plugin['name'].replace('-', '_')}", plugin["entry_file"], plugin["directory"])
    create = getattr(module, plugin["function"], None)
    if not callable(create):
        raise PluginFailure(f"plugin {plugin['name']} has no function {plugin['function']}")
    crew = crews.create(create, job["settings"], context)
    if inspect.isawaitable(crew):
        crew = asyncio.run(_await(crew))
    output = crew.kickoff(inputs=crews.kickoff_inputs(module, job["settings"]))
    raw = getattr(output, "raw", None)
    return raw if isinstance(raw, str) else str(output)


def execute(job: Dict[str, Any], channel: _Channel, loader: Loader = load_module) -> Dict[str, Any]:
    """Runs the job and returns the result message (never raises).

    :param loader: imports the plugin's source file (a pooled process keeps the modules it imported).
    """
    run_id = job["run_id"]

    def report(step: str, message: Optional[str]) -> None:
        channel.send({"type": "step", "run_id": run_id, "step": step, "message": message})

    context = PluginContext(
        run_id=job["run_id"],
        attempt=int(job.get("attempt", 1)),
        plugin_dir=job["plugin"]["directory"],
        secrets=job.get("secrets") or {},
        deadline=float(job["deadline"]),
        report=report,
    )
    try:
        if job["plugin"]["runtime"] == "crewai":
            value = _run_crewai(job, context, loader)
        else:
            value = _run_python(job, context, loader)
        return {"type": "result", "status": "completed", "output": _output_text(value)}
    except Retry as retry:
        return {"type": "result", "status": "failed", "error": str(retry), "retryable": True, "defer": retry.defer}
    except (PluginFailure, MissingDependencyError) as failure:
        return {"type": "result", "status": "failed", "error": str(failure), "retryable": False}
    except BaseException as error:  # the process edge: every failure becomes a result
        traceback.print_exc(file=sys.stderr)
        text = str(error)
        return {
            "type": "result",
            "status": "failed",
            "error": f"{type(error).__name__}: {text}" if text else type(error).__name__,
            "retryable": False,
        }


def _kill_own_group() -> None:
    kill_own_group()


class LeaseWatch:
    """Kills this process group when the lease it was last told about runs out.

    :param remaining_ms: the lease time left when the job was written, or ``None`` for no watch.
    :param on_expiry: what to do at expiry (kill the group; replaced in tests).
    """

    def __init__(self, remaining_ms: Optional[float], on_expiry: Any = _kill_own_group) -> None:
        self._condition = threading.Condition()
        self._deadline: Optional[float] = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000.0
        self._wakes_at: Optional[float] = None
        """When the watching thread looks again by itself; ``None`` while it waits to be told."""
        self._on_expiry = on_expiry

    def extend(self, remaining_ms: float) -> None:
        """The lease is held for ``remaining_ms`` more milliseconds, counted from now."""
        with self._condition:
            self._deadline = time.monotonic() + max(float(remaining_ms), 0.0) / 1000.0
            # A later deadline is found when the thread wakes at the earlier one: only an earlier one needs a wake-up
            # (in a pooled process, runs back to back then cost the watching thread nothing).
            if self._wakes_at is None or self._deadline < self._wakes_at:
                self._condition.notify_all()

    def disarm(self) -> None:
        """No lease to watch until the next :meth:`extend` (a pooled process between runs)."""
        with self._condition:
            self._deadline = None  # found when the thread next wakes

    def run(self) -> None:
        """Waits for the deadline, moving it on each extension; then calls ``on_expiry``."""
        with self._condition:
            while True:
                if self._deadline is None:
                    self._wakes_at = None
                    self._condition.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left <= 0:
                    break
                self._wakes_at = self._deadline
                self._condition.wait(timeout=left)
        self._on_expiry()


def _expire(channel: _Channel) -> None:
    """The lease ran out: tells the worker why (if the channel is free soon), then kills the group."""
    try:
        channel.send({"type": "lease_expired"}, wait=0.1)
    except Exception:  # the kill below is what matters
        pass
    _kill_own_group()


def _read_control(control: IO[bytes], watch: LeaseWatch) -> None:
    """Applies lease extensions from the worker; the end of input means the worker is gone."""
    for line in control:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "lease":
            watch.extend(float(message.get("remaining_ms", 0)))
    _kill_own_group()


def main() -> int:
    """Entry point of the child process (:func:`~firstsip_sidecar.lifeline.tie_to_parent` ran on import)."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    control = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), sys.stdin.fileno())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    channel = _Channel(protocol)
    line = control.readline()
    if not line:
        return 1
    job = json.loads(line.decode("utf-8"))
    lease_ms = job.get("lease_ms")
    watch = LeaseWatch(None if lease_ms is None else float(lease_ms), on_expiry=lambda: _expire(channel))
    threading.Thread(target=watch.run, name="lease-watch", daemon=True).start()
    threading.Thread(target=_read_control, args=(control, watch), name="control", daemon=True).start()
    channel.send(execute(job, channel))
    protocol.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
