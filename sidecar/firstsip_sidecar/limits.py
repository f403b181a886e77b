"""The time limits of one run (docs/protocol.md, ``plugin:requests``).

Three limits, as the app sets them:

- ``queue_deadline`` (unix ms, optional): the end of the queue timeout. A worker that takes the
  run later does not start it (``kind`` ``not_started``).
- ``deadline`` (unix ms, optional): the run's overall deadline. A worker that takes the run
  later does not start it (``not_started``); a running execution is stopped at it (``timed_out``).
- ``timeout_seconds`` (else the plugin's, else ``CREW_TIMEOUT_SECONDS``): the execution timeout,
  counted from the moment this worker starts the run (``timed_out``).

Nothing else about the time a request spent queued keeps a worker from starting it.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Optional

from .types import ExecutionOutcome, PluginRequest


def utc_text(unix_ms: int) -> str:
    """A unix time in milliseconds as ISO 8601 UTC text, e.g. ``2026-02-19T02:57:03.000Z``."""
    moment = datetime.datetime.fromtimestamp(unix_ms / 1000.0, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def refusal(request: PluginRequest, now_ms: int) -> Optional[ExecutionOutcome]:
    """The failed outcome of a run that must not start any more, or ``None`` when it may start.

    :param request: the request.
    :param now_ms: the current unix time in milliseconds.
    """
    if request.queue_deadline_ms is not None and request.queue_deadline_ms <= now_ms:
        return ExecutionOutcome.failed(
            f"never started: the queue timeout ended at {utc_text(request.queue_deadline_ms)} "
            "before a worker took the run",
            kind="not_started",
        )
    if request.deadline_ms is not None and request.deadline_ms <= now_ms:
        return ExecutionOutcome.failed(
            f"never started: the deadline passed at {utc_text(request.deadline_ms)} before the run started",
            kind="not_started",
        )
    return None


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long an execution may run, and what its stop says.

    :param seconds: the smaller of the execution timeout and the time left to the deadline.
    :param timeout_error: the error text of an execution stopped at ``seconds``.
    :param by_deadline: True when the overall deadline, not the execution timeout, binds.
    """

    seconds: float
    timeout_error: str
    by_deadline: bool


def budget(request: PluginRequest, timeout_seconds: float, now_ms: int) -> Budget:
    """The execution budget of a run that starts now.

    :param request: the request (its ``deadline_ms``).
    :param timeout_seconds: the execution timeout that applies (request, plugin or default).
    :param now_ms: the current unix time in milliseconds.
    """
    if request.deadline_ms is not None:
        left = max(request.deadline_ms - now_ms, 0) / 1000.0
        if left < timeout_seconds:
            return Budget(
                seconds=left,
                timeout_error=f"timed out: the run's deadline passed at {utc_text(request.deadline_ms)}",
                by_deadline=True,
            )
    return Budget(seconds=timeout_seconds, timeout_error=f"timed out after {timeout_seconds:g} s", by_deadline=False)
