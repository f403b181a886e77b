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
    :param deadline_ms: unix milliseconds after which the app no longer waits, or ``None``.
    :param timeout_seconds: the execution timeout the request asks for, or ``None``.
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


@dataclasses.dataclass(frozen=True)
class ExecutionOutcome:
    """How one execution ended, before it is written to the results stream.

    :param status: ``completed`` or ``failed``.
    :param output: JSON text of a completed run.
    :param error: the failure text of a failed run.
    :param retryable: the plugin asked for another attempt.
    :param kind: ``completed``, ``failed``, ``timed_out``, ``cancelled`` or ``retry`` (for metrics).
    """

    status: Literal["completed", "failed"]
    output: Optional[str] = None
    error: Optional[str] = None
    retryable: bool = False
    kind: str = "completed"

    @classmethod
    def completed(cls, output: str) -> "ExecutionOutcome":
        """A completed run with its JSON output text."""
        return cls(status="completed", output=output, kind="completed")

    @classmethod
    def failed(cls, error: str, *, kind: str = "failed", retryable: bool = False) -> "ExecutionOutcome":
        """A failed run with its error text."""
        return cls(status="failed", error=error, retryable=retryable, kind=kind)
