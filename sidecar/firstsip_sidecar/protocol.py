"""The v1 wire protocol (docs/protocol.md): request parsing, result and event fields, run keys.

Every field value on a stream is a string. Readers ignore fields they do not know.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional, Union

from .errors import PoisonEntry
from .types import Briefing, BriefingSection, EventPayload, ExecutionOutcome, PluginRequest, ResultPayload

SCHEMA_VERSION = "v1"
DONE_TTL_MS = 24 * 60 * 60 * 1000

Fields = Mapping[Union[str, bytes], Union[str, bytes]]


def run_key(prefix: str, run_id: str, suffix: str) -> str:
    """The one helper that builds per-run keys: ``{prefix}run:{run_id}:{suffix}``.

    :param prefix: the key prefix (``firstsip:`` by default).
    :param run_id: the run id as lowercase UUID text.
    :param suffix: ``lease``, ``done`` or ``cancel``.
    """
    return f"{prefix}run:{run_id}:{suffix}"


def done_blocks(done: Optional[str], attempt: int) -> bool:
    """Whether a run's ``done`` value means a request of ``attempt`` must not run.

    ``final:<n>``: the run is finished, so no attempt runs again. ``retry:<n>``: attempts up to
    ``n`` are settled, a newer one (the app retried the run) runs. Anything unreadable counts as
    finished, so a malformed marker never starts a run twice.
    """
    if done is None:
        return False
    state, _, number = done.partition(":")
    if state == "final":
        return True
    try:
        return attempt <= int(number)
    except ValueError:
        return True


def done_value(outcome: ExecutionOutcome, attempt: int) -> str:
    """The ``done`` marker a published outcome writes: ``retry:<attempt>`` or ``final:<attempt>``."""
    return f"{'retry' if outcome.retryable else 'final'}:{attempt}"


def cancel_channel(prefix: str) -> str:
    """The pub/sub channel on which the app announces cancelled run ids: ``{prefix}cancel``."""
    return f"{prefix}cancel"


def now_ms() -> int:
    """The current unix time in milliseconds."""
    return int(time.time() * 1000)


def _text(value: Union[str, bytes, None]) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def decode_fields(fields: Fields) -> Dict[str, str]:
    """Decodes an entry's field map to text keys and values."""
    return {_text(k) or "": _text(v) or "" for k, v in fields.items()}


def _canonical_uuid(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def readable_run_id(fields: Fields) -> Optional[str]:
    """The run id of an entry when its payload is readable enough to hold one, else ``None``."""
    payload = decode_fields(fields).get("payload")
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return _canonical_uuid(data.get("plugin_run_id"))


def _optional_int(value: Optional[str]) -> Optional[int]:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            return int(float(value.strip()))
        except ValueError:
            return None


def parse_request(fields: Fields) -> PluginRequest:
    """Parses a ``plugin:requests`` entry.

    :param fields: the entry's fields (text or bytes).
    :returns: the request.
    :raises PoisonEntry: the entry can never be processed; the reason is one of docs/protocol.md's.
    """
    values = decode_fields(fields)
    payload = values.get("payload")
    if payload is None:
        raise PoisonEntry("missing payload")
    try:
        data = json.loads(payload)
    except ValueError:
        raise PoisonEntry("payload is not valid JSON") from None
    if not isinstance(data, dict):
        raise PoisonEntry("payload is not a JSON object")

    raw_run_id = data.get("plugin_run_id")
    run_id = _canonical_uuid(raw_run_id)
    if run_id is None:
        raise PoisonEntry("plugin_run_id is required")

    schema_version = values.get("schema_version")
    if schema_version != SCHEMA_VERSION:
        shown = "(missing)" if schema_version is None else schema_version
        raise PoisonEntry(f"unsupported schema_version {shown}", run_id)

    plugin_name = data.get("plugin_name")
    if not isinstance(plugin_name, str) or not plugin_name:
        raise PoisonEntry("plugin_name is required", run_id)

    settings = data.get("settings")
    if settings is None:
        settings = {}
    elif not isinstance(settings, dict):
        raise PoisonEntry("settings must be a JSON object", run_id)

    user_id = data.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, (int, str, type(None))):
        user_id = str(user_id)

    attempt = _optional_int(values.get("attempt"))
    timeout_raw = values.get("timeout_seconds")
    timeout_seconds: Optional[float] = None
    if timeout_raw:
        try:
            timeout_seconds = float(timeout_raw)
        except ValueError:
            timeout_seconds = None
        if timeout_seconds is not None and timeout_seconds <= 0:
            timeout_seconds = None

    return PluginRequest(
        run_id=run_id,
        raw_run_id=str(raw_run_id),
        plugin_name=plugin_name,
        user_id=user_id,
        settings=settings,
        attempt=attempt if attempt and attempt > 0 else 1,
        deadline_ms=_optional_int(values.get("deadline")),
        queue_deadline_ms=_optional_int(values.get("queue_deadline")),
        timeout_seconds=timeout_seconds,
        secrets=values.get("secrets") or None,
        traceparent=values.get("traceparent") or None,
        tracestate=values.get("tracestate") or None,
    )


def result_fields(
    run_id: str,
    outcome: ExecutionOutcome,
    *,
    worker: str,
    attempt: Optional[int] = None,
    duration_ms: Optional[int] = None,
    traceparent: Optional[str] = None,
    last_step: Optional[str] = None,
    started_at: Optional[int] = None,
) -> Dict[str, str]:
    """The fields of a ``plugin:results`` entry for an outcome.

    A failed result carries ``retryable`` and ``kind`` (``timed_out``, ``not_started``,
    ``cancelled`` or ``failed``), and ``retry_delay_ms`` when the plugin asked for a delay.
    ``started_at`` (unix ms) stands for the run's ``started`` event when that was not sent.
    """
    payload: ResultPayload = {
        "plugin_run_id": run_id,
        "status": outcome.status,
        "output": outcome.output if outcome.status == "completed" else None,
        "error": outcome.error if outcome.status == "failed" else None,
    }
    if outcome.status == "failed":
        payload["retryable"] = outcome.retryable
        if outcome.retryable and outcome.retry_delay_ms is not None:
            payload["retry_delay_ms"] = outcome.retry_delay_ms
        payload["kind"] = outcome.wire_kind  # type: ignore[typeddict-item]
    fields = {
        "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        "schema_version": SCHEMA_VERSION,
        "worker": worker,
    }
    if attempt is not None:
        fields["attempt"] = str(attempt)
    if duration_ms is not None:
        fields["duration_ms"] = str(duration_ms)
    if traceparent:
        fields["traceparent"] = traceparent
    if last_step:
        fields["last_step"] = last_step
    if started_at is not None:
        fields["started_at"] = str(started_at)
    return fields


def event_fields(
    run_id: str,
    kind: str,
    *,
    worker: str,
    attempt: int,
    step: Optional[str] = None,
    message: Optional[str] = None,
    traceparent: Optional[str] = None,
) -> Dict[str, str]:
    """The fields of a ``plugin:events`` entry (``started``, ``step`` or ``heartbeat``).

    ``traceparent``, when given, puts the event in the run's trace, like the result.
    """
    payload: EventPayload = {
        "plugin_run_id": run_id,
        "kind": kind,  # type: ignore[typeddict-item]
        "step": step,
        "message": message,
        "at": now_ms(),
    }
    fields = {
        "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        "schema_version": SCHEMA_VERSION,
        "worker": worker,
        "attempt": str(attempt),
    }
    if traceparent:
        fields["traceparent"] = traceparent
    return fields


_HEADING = re.compile(r"^\s{0,3}#{1,6}(\s|$)")


def markdown_to_briefing(markdown: str) -> Briefing:
    """Wraps Markdown as a briefing.

    ``summary`` is the first paragraph that is neither empty nor a heading; ``sections`` are the
    parts that start with a ``## `` heading (title: the heading text; content: the text up to the
    next ``## ``).
    """
    text = markdown.replace("\r\n", "\n").strip()
    summary = ""
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line for line in paragraph.split("\n") if line.strip() and not _HEADING.match(line)]
        if lines:
            summary = "\n".join(line.strip() for line in lines)
            break

    sections: List[BriefingSection] = []
    title: Optional[str] = None
    body: List[str] = []
    for line in text.split("\n"):
        if line.startswith("## "):
            if title is not None:
                sections.append({"title": title, "content": "\n".join(body).strip()})
            title = line[3:].strip()
            body = []
        elif title is not None:
            body.append(line)
    if title is not None:
        sections.append({"title": title, "content": "\n".join(body).strip()})
    return {"summary": summary, "sections": sections}
