"""Test plugin: importing it takes one second (a stand-in for ``import crewai``).

Each import appends ``<pid>`` to the file named by the ``SLOWIMPORT_LOG`` variable (passed with
``SIDECAR_PLUGIN_ENV``); a run returns the pid of the process that ran it.
"""

import os
import time

time.sleep(1.0)
if os.environ.get("SLOWIMPORT_LOG"):
    with open(os.environ["SLOWIMPORT_LOG"], "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")


def run(settings, context):
    return {"pid": os.getpid()}
