"""Test plugin: reports what an earlier run left in its process, then leaves things behind itself.

It returns its pid, the runs this module saw (module state is kept in a pooled process), whether
``STATEFUL_LEAK`` is in the environment, its secrets' names and its working folder; then it sets
``STATEFUL_LEAK`` to its secret ``TOKEN`` (if any), changes the working folder and, with
``orphan_pid_file``, starts ``sleep 1000`` without waiting for it and writes its pid there.
"""

import os
import subprocess

SEEN = []


def run(settings, context):
    SEEN.append(context.run_id)
    report = {
        "pid": os.getpid(),
        "runs_seen": len(SEEN),
        "leak": os.environ.get("STATEFUL_LEAK"),
        "secret_names": sorted(context.secrets),
        "cwd": os.getcwd(),
        "env_names": sorted(os.environ),
    }
    os.environ["STATEFUL_LEAK"] = context.secrets.get("TOKEN", "no-secret")
    os.chdir("/")
    if settings.get("orphan_pid_file"):
        orphan = subprocess.Popen(["sleep", "1000"])
        path = settings["orphan_pid_file"]
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(f"{orphan.pid}\n")
        os.replace(path + ".tmp", path)
    return report
