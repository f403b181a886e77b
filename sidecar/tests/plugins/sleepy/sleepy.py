"""Test plugin: starts a grandchild process, records both pids, then sleeps or busy-loops.

Settings: ``mode`` (``sleep`` or ``busy``), ``seconds`` (how long before it returns),
``pid_file`` (where ``<own pid> <grandchild pid>`` is written once both run).
"""

import os
import subprocess
import time


def run(settings, context):
    child = subprocess.Popen(["sleep", "1000"])
    if settings.get("pid_file"):
        path = settings["pid_file"]
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {child.pid}\n")
        os.replace(path + ".tmp", path)
    context.step("sleeping")
    end = time.monotonic() + float(settings.get("seconds", 1))
    if settings.get("mode") == "busy":
        while time.monotonic() < end:
            pass
    else:
        while time.monotonic() < end:
            time.sleep(0.05)
    child.kill()
    child.wait()
    return {"slept": settings.get("seconds", 1), "pid": os.getpid()}
