"""Ties a plugin process's whole process group to the life of the worker that started it.

On Linux the kernel sends a process a signal of its choice the moment its parent dies
(``prctl(PR_SET_PDEATHSIG)``). A plugin process asks for :data:`DEATH_SIGNAL`, a real-time signal
that it blocks and waits for in a thread of its own; that thread kills the process's whole group
(the plugin's own child processes included) with SIGKILL. A plain SIGKILL as the parent-death
signal would end the plugin process alone and leave its children running.

The signal is set before anything else the process does, and ``getppid`` is read right after: a
worker that died between the fork and the ``prctl`` call has left the process to another parent,
and the process kills its group at once.

Notes:

- Blocking a signal is inherited by the processes the plugin starts (nothing uses
  :data:`DEATH_SIGNAL`; it is an otherwise unused real-time signal, above glibc's own).
- The kernel sends the signal when the *thread* that forked the process ends: the worker starts
  plugin processes from its event loop thread, which lives as long as the worker.
- Elsewhere than Linux (no ``prctl``), :func:`tie_to_parent` falls back to a thread that polls
  ``getppid`` every half second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from typing import Optional

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
DEATH_SIGNAL = signal.SIGRTMIN + 6 if hasattr(signal, "SIGRTMIN") else signal.SIGTERM
PARENT_VARIABLE = "FIRSTSIP_WORKER_PID"
"""The environment variable through which a worker tells a plugin process its own pid."""


def kill_own_group() -> None:
    """SIGKILLs this process's group: this process and every process it started that stayed in it."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _wait_for_death_signal() -> None:
    signal.sigwait({DEATH_SIGNAL})
    kill_own_group()


def _poll_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            kill_own_group()


def tie_to_parent(expected_parent: Optional[int] = None) -> str:
    """Makes this process group die when the parent dies; call it first thing in the process.

    :param expected_parent: the worker's pid; by default :data:`PARENT_VARIABLE` from the
        environment, else the parent at the time of the call.
    :returns: ``"pdeathsig"`` or ``"poll"``, the mechanism in use.
    """
    if expected_parent is None:
        text = os.environ.get(PARENT_VARIABLE, "")
        expected_parent = int(text) if text.isdigit() else os.getppid()
    mechanism = "poll"
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {DEATH_SIGNAL})
        if _prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL)):
            mechanism = "pdeathsig"
        else:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {DEATH_SIGNAL})
    if os.getppid() != expected_parent:
        kill_own_group()  # the worker died before the signal was set
    if mechanism == "pdeathsig":
        threading.Thread(target=_wait_for_death_signal, name="parent-death", daemon=True).start()
    else:
        threading.Thread(target=_poll_parent, args=(expected_parent,), name="parent-watch", daemon=True).start()
    return mechanism


def become_subreaper() -> bool:
    """Makes this process adopt its orphaned descendants (``PR_SET_CHILD_SUBREAPER``), Linux only.

    A pooled process uses it to see, after a run, whether anything the run started still lives,
    however deep it was in the process tree.
    """
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def has_live_children() -> bool:
    """Reaps finished children; True when a child (or an adopted descendant) still runs."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
