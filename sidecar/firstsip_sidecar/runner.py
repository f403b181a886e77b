"""The child process that executes one plugin run: ``python -m firstsip_sidecar.runner``.

The worker starts it in its own process group (so a timeout or a cancel can kill it and every
process it started), writes the job as one JSON object on standard input (the secrets travel only
there), and reads JSON lines from the child's original standard output: ``{"type": "step", ...}``
for each finished step and one ``{"type": "result", ...}`` at the end. The plugin's own prints
go to standard error, so they can never corrupt those lines.
"""

from __future__ import annotations

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
from typing import IO, Any, Dict, Optional

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

    def send(self, message: Dict[str, Any]) -> None:
        self._stream.write(json.dumps(message, ensure_ascii=False) + "\n")
        self._stream.flush()


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


def _run_python(job: Dict[str, Any], context: PluginContext) -> Any:
    plugin = job["plugin"]
    module = load_module(f"firstsip_plugin_{plugin['name'].replace('-', '_')}", plugin["entry_file"], plugin["directory"])
    function = getattr(module, plugin["function"], None)
    if not callable(function):
        raise PluginFailure(f"plugin {plugin['name']} has no function {plugin['function']}")
    return _call(function, job["settings"], context)


def _run_crewai(job: Dict[str, Any], context: PluginContext) -> Any:
    if importlib.util.find_spec("crewai") is None:
        raise MissingDependencyError(CREWAI_MISSING)
    plugin = job["plugin"]
    module = load_module(f"firstsip_crew_{plugin['name'].replace('-', '_')}", plugin["entry_file"], plugin["directory"])
    create = getattr(module, plugin["function"], None)
    if not callable(create):
        raise PluginFailure(f"plugin {plugin['name']} has no function {plugin['function']}")
    crew = _call(create, job["settings"], context)
    make_inputs = getattr(module, "crew_inputs", None)
    inputs = make_inputs(job["settings"]) if callable(make_inputs) else dict(job["settings"])
    output = crew.kickoff(inputs=inputs)
    raw = getattr(output, "raw", None)
    return raw if isinstance(raw, str) else str(output)


def execute(job: Dict[str, Any], channel: _Channel) -> Dict[str, Any]:
    """Runs the job and returns the result message (never raises)."""

    def report(step: str, message: Optional[str]) -> None:
        channel.send({"type": "step", "step": step, "message": message})

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
            value = _run_crewai(job, context)
        else:
            value = _run_python(job, context)
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


def _watch_parent(parent: int) -> None:
    """Kills this process group once the worker that started it is gone (for example SIGKILLed).

    Without it a run whose worker died would go on running, unseen, next to the worker that
    reclaims it.
    """
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> int:
    """Entry point of the child process."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    channel = _Channel(protocol)
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    channel.send(execute(job, channel))
    protocol.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
