"""Structured values that cross module boundaries (wire payloads and parsed requests)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

JsonObject = Dict[str, Any]
UserId = Union[int, str]


class ResultPayload(TypedDict, total=False):
    """The ``payload`` of a ``plugin:results`` entry."""

    plugin_run_id: str
    status: Literal["completed", "failed"]
    output: Optional[str]
    error: Optional[str]
    retryable: bool
    retry_delay_ms: int
    kind: Literal["timed_out", "not_started", "cancelled", "failed"]


class EventPayload(TypedDict):
    """The ``payload`` of a ``plugin:events`` entry."""

    plugin_run_id: str
    kind: Literal["started", "step", "heartbeat"]
    step: Optional[str]
    message: Optional[str]
    at: int


class BriefingSection(TypedDict):
    """One ``## `` section of a briefing."""

    title: str
    content: str


class Briefing(TypedDict):
    """The output a Markdown-returning plugin is stored as."""

    summary: str
    sections: List[BriefingSection]


@dataclasses.dataclass(frozen=True)
class PluginRequest:
    """A parsed ``plugin:requests`` entry.

    :param run_id: the run id as lowercase UUID text (used for keys and results).
    :param raw_run_id: the run id exactly as written in the payload (the secrets' associated data).
    :param plugin_name: the plugin to run; looked up in the catalog only.
    :param user_id: a JSON number or a string.
    :param settings: the run's settings (an object; empty when absent).
    :param attempt: 1-based attempt number.
    :param deadline_ms: the run's overall deadline in unix milliseconds, or ``None``: the run is
        not started after it, and an execution is stopped at it.
    :param timeout_seconds: the execution timeout the request asks for, or ``None``.
    :param queue_deadline_ms: the end of the run's queue timeout in unix milliseconds, or
        ``None``: a worker that reads the request later does not start the run.
    :param secrets: the sealed secrets text, or ``None``.
    :param traceparent: W3C trace context of the publisher, or ``None``.
    :param tracestate: W3C trace state, or ``None``.
    """

    run_id: str
    raw_run_id: str
    plugin_name: str
    user_id: Optional[UserId]
    settings: JsonObject
    attempt: int = 1
    deadline_ms: Optional[int] = None
    timeout_seconds: Optional[float] = None
    secrets: Optional[str] = dataclasses.field(default=None, repr=False)
    traceparent: Optional[str] = None
    tracestate: Optional[str] = None
    queue_deadline_ms: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class ExecutionOutcome:
    """How one execution ended, before it is written to the results stream.

    :param status: ``completed`` or ``failed``.
    :param output: JSON text of a completed run.
    :param error: the failure text of a failed run.
    :param retryable: the plugin asked for another attempt.
    :param kind: ``completed``, ``failed``, ``timed_out``, ``not_started``, ``cancelled`` or
        ``retry`` (a plugin's :class:`~firstsip_sidecar.errors.Retry`); see :attr:`wire_kind`.
    :param retry_delay_ms: how long the plugin asked to wait before the next attempt, or ``None``.
    """

    status: Literal["completed", "failed"]
    output: Optional[str] = None
    error: Optional[str] = None
    retryable: bool = False
    kind: str = "completed"
    retry_delay_ms: Optional[int] = None

    @property
    def wire_kind(self) -> Optional[str]:
        """The result payload's ``kind``: ``None`` for a completed run, else one of
        ``timed_out``, ``not_started``, ``cancelled`` or ``failed`` (a retry is ``failed``)."""
        if self.status == "completed":
            return None
        return self.kind if self.kind in ("timed_out", "not_started", "cancelled") else "failed"

    @classmethod
    def completed(cls, output: str) -> "ExecutionOutcome":
        """A completed run with its JSON output text."""
        return cls(status="completed", output=output, kind="completed")

    @classmethod
    def stopped(cls, reason: Optional[str]) -> "ExecutionOutcome":
        """A run stopped because it is terminal elsewhere: ``cancelled: <reason>``, kind ``cancelled``."""
        return cls(status="failed", error=f"cancelled: {reason}" if reason else "cancelled", kind="cancelled")

    @classmethod
    def failed(
        cls, error: str, *, kind: str = "failed", retryable: bool = False, retry_delay_ms: Optional[int] = None
    ) -> "ExecutionOutcome":
        """A failed run with its error text."""
        return cls(status="failed", error=error, retryable=retryable, kind=kind, retry_delay_ms=retry_delay_ms)
