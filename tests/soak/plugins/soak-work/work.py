"""Fault-harness plugin: works (sleeps) for ``seconds`` and journals the execution.

Every execution appends JSON lines to the file named by the ``journal`` setting, each written
with one ``write`` on a file opened with ``O_APPEND`` (so lines of concurrent executions never
interleave):

- ``{"kind": "start", "run": <run id>, "exec": <id of this execution>, "attempt", "pid", "ppid", "at"}``
- ``{"kind": "tick", ...}`` about every 0.2 s while it works
- ``{"kind": "end", ...}`` just before it returns

``at`` is wall-clock unix time in seconds. The output is briefing-shaped, so the sample hosts'
completion handler stores a Briefing for the run.
"""

import json
import os
import time
import uuid

TICK_SECONDS = 0.2


def _writer(path):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(kind, **fields):
        line = json.dumps({"kind": kind, **fields, "at": round(time.time(), 4)}) + "\n"
        os.write(fd, line.encode("utf-8"))

    return fd, write


def run(settings, context):
    seconds = float(settings.get("seconds", 2.5))
    execution = uuid.uuid4().hex[:12]
    base = {"run": str(context.run_id).lower(), "exec": execution}
    fd, write = _writer(settings["journal"])
    try:
        write("start", **base, attempt=context.attempt, pid=os.getpid(), ppid=os.getppid())
        began = time.monotonic()
        end = began + seconds
        ticks = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(TICK_SECONDS, left))
            ticks += 1
            if time.monotonic() < end:
                write("tick", **base, n=ticks)
        write("end", **base, worked=round(time.monotonic() - began, 3))
    finally:
        os.close(fd)
    label = settings.get("label") or "soak run"
    return {
        "summary": f"{label}: worked {seconds:g} s",
        "sections": [
            {"title": "execution", "content": f"execution {execution}, attempt {context.attempt}, pid {os.getpid()}"},
        ],
    }
