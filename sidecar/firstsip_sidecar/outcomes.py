"""Everything a worker writes about a request's fate: results, acknowledgements, dead letters, events.

- A result is published, the request acknowledged, the run's ``done`` key written and its lease
  released in one atomic step (a server-side script, one command). ``done`` is ``final:<attempt>``
  (no attempt of the run runs again) or, after a retryable failure, ``retry:<attempt>``; an
  existing ``final`` is never replaced.
- A request of a finished run is acknowledged without a result, and counted as a duplicate.
- A dead-lettered entry is copied to ``<stream>:dead`` without its ``secrets`` field, with the
  reason, and acknowledged in the same MULTI/EXEC (plus a failed result when the run is known).
- Progress events are best effort.

Every text that reaches Redis or the logs from here has been through the run's redactor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as token
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import protocol
from .connections import LuaScript
from .metrics import Metrics
from .redaction import Redactor
from .types import ExecutionOutcome, PluginRequest

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .leases import Lease
    from .settings import Settings

logger = logging.getLogger("firstsip.outcomes")

WITHHELD_FIELDS = frozenset({"secrets"})
"""Request fields never copied to a dead-letter stream."""

# Settles a request: adds the result entry, acknowledges the request, writes the run's done marker
# unless the run is already final (the first final marker stays, and a late retryable result never
# turns a finished run back into one that may run again), and releases the run's lease if it is still
# the given holder's. Atomic, one command: MULTI/EXEC with the same steps cost six.
# Then, when asked, it reads the consumer's next new requests (XREADGROUP without BLOCK), so a busy worker takes its
# next request in the same round trip; an error there (the group was deleted) reads nothing, the rest stands.
# KEYS: results stream, requests stream, done key, lease key.
# ARGV: group, request entry id, done value, done lifetime (ms), lease holder ('' for none), consumer, how many
# requests to read (0 for none), then the result entry's field and value pairs.
# Returns the requests read: a list of {entry id, {field, value, ...}}.
_SETTLE = LuaScript("""
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 8))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
local current = redis.call('GET', KEYS[3])
if not (current and string.sub(current, 1, 6) == 'final:') then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) == ARGV[5] then
  redis.call('DEL', KEYS[4])
end
if ARGV[7] ~= '0' then
  local read = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[6], 'COUNT', ARGV[7], 'STREAMS', KEYS[2], '>')
  if type(read) == 'table' and read[1] then
    return read[1][2]
  end
end
return {}
""")


def _field_name(key: object) -> str:
    return key.decode("utf-8", errors="replace") if isinstance(key, bytes) else str(key)


def child_traceparent(parent: Optional[str]) -> Optional[str]:
    """A W3C traceparent for the worker's span: the publisher's trace id, a new span id."""
    if not parent:
        return None
    parts = parent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return f"{parts[0]}-{parts[1]}-{token.token_hex(8)}-{parts[3]}"


class Outcomes:
    """Publishes results and events, acknowledges and dead-letters request entries.

    :param client: the Redis client.
    :param settings: the sidecar settings (stream names, group, key prefix, result size limit).
    :param consumer: this worker's consumer name.
    :param metrics: where counters go.
    """

    def __init__(self, client: "aioredis.Redis", settings: "Settings", consumer: str, metrics: Metrics) -> None:
        self.client = client
        self.settings = settings
        self.consumer = consumer
        self.metrics = metrics

    def _key(self, run_id: str, suffix: str) -> str:
        return protocol.run_key(self.settings.key_prefix, run_id, suffix)

    def _event_fields(
        self, request: PluginRequest, kind: str, *, step: Optional[str] = None, message: Optional[str] = None,
    ) -> Dict[str, str]:
        return protocol.event_fields(
            request.run_id, kind, worker=self.consumer, attempt=request.attempt, step=step, message=message,
            traceparent=child_traceparent(request.traceparent),
        )

    async def publish(
        self,
        entry_id: str,
        request: PluginRequest,
        outcome: ExecutionOutcome,
        duration_ms: Optional[int] = None,
        redactor: Optional[Redactor] = None,
        last_step: Optional[str] = None,
        lease: Optional["Lease"] = None,
        started_at: Optional[int] = None,
        take: int = 0,
    ) -> List[Tuple[str, Dict[bytes, bytes]]]:
        """Publishes the result, acknowledges the request, writes the ``done`` key and releases the lease, atomically.

        :param redactor: the run's redactor; the outcome's error and output go through it first.
        :param last_step: the last step the execution reported, sent as the result's ``last_step``
            (progress events travel on another stream and may be applied after the result).
        :param lease: the run's lease, released (if still this worker's) in the same step.
        :param started_at: when set (unix ms), the result carries when the execution began, standing for its
            ``started`` event (an execution that ended before that event went out).
        :param take: how many new requests to read for this consumer in the same step (0 for none): the caller hands
            the slot it frees to them.
        :returns: the requests read (entry id and fields), at most ``take``; they are pending on this consumer.
        :raises redis.exceptions.RedisError: Redis stayed unreachable for longer than the claim
            timeout; the request stays pending and another delivery runs it again.
        """
        if redactor is not None:
            outcome = redactor.outcome(outcome)
        elif outcome.error is not None:
            outcome = Redactor().outcome(outcome)
        traceparent = child_traceparent(request.traceparent)
        if last_step is not None and redactor is not None:
            last_step = redactor.values(last_step)
        fields = protocol.result_fields(
            request.run_id, outcome, worker=self.consumer, attempt=request.attempt,
            duration_ms=duration_ms, traceparent=traceparent, last_step=last_step, started_at=started_at,
        )
        size = len(fields["payload"].encode("utf-8"))
        if size > self.settings.max_result_bytes:
            outcome = ExecutionOutcome.failed(f"output too large ({size} bytes, limit {self.settings.max_result_bytes})")
            fields = protocol.result_fields(
                request.run_id, outcome, worker=self.consumer, attempt=request.attempt,
                duration_ms=duration_ms, traceparent=traceparent, last_step=last_step, started_at=started_at,
            )
        keys = (
            self.settings.results_stream, self.settings.requests_stream, self._key(request.run_id, "done"),
            self._key(request.run_id, "lease") if lease is None else lease.key,
        )
        args = [
            self.settings.worker_group, entry_id, protocol.done_value(outcome, request.attempt), protocol.DONE_TTL_MS,
            "" if lease is None else lease.value, self.consumer, take,
        ]
        for name, value in fields.items():
            args += (name, value)
        delay = 0.2
        give_up = time.monotonic() + max(self.settings.claim_timeout_seconds, 5.0)
        while True:
            try:
                taken = await _SETTLE(self.client, keys, *args)
                if lease is not None:
                    lease.released = True
                break
            except (RedisConnectionError, RedisTimeoutError) as error:
                if time.monotonic() + delay > give_up:
                    raise
                logger.warning("run %s: publishing the result failed (%s); retrying", request.run_id, error)
                # The lost call may have run: a request it read stays pending here until it is reclaimed. A retry
                # reads none, so no more than that one waits for the claim timeout.
                args[6] = 0
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.count(outcome)
        detail = f" ({outcome.error})" if outcome.status == "failed" and outcome.error != outcome.kind else ""
        logger.info("run %s: %s%s", request.run_id, outcome.kind, detail)
        return [(_field_name(entry_id), dict(zip(flat[::2], flat[1::2]))) for entry_id, flat in taken or ()]

    async def acknowledge_duplicate(self, entry_id: str, run_id: str, done: Optional[str]) -> None:
        """Acknowledges a request whose run is settled (``done``) without running it."""
        await self.client.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
        self.metrics.increment("requests_duplicate")
        logger.info("run %s is settled (%s); acknowledged %s without running", run_id, done, entry_id)

    def count(self, outcome: ExecutionOutcome) -> None:
        """Counts a published outcome in the metrics."""
        if outcome.status == "completed":
            self.metrics.increment("runs_completed")
            return
        self.metrics.increment("runs_failed")
        if outcome.kind == "timed_out":
            self.metrics.increment("runs_timed_out")
        elif outcome.kind == "cancelled":
            self.metrics.increment("runs_cancelled")
        elif outcome.kind == "not_started":
            self.metrics.increment("runs_not_started")

    async def dead_letter(
        self, entry_id: str, fields: Dict, reason: str, run_id: Optional[str], attempt: Optional[int]
    ) -> None:
        """Moves an entry to ``<stream>:dead`` with the reason, acknowledging it in the same MULTI.

        The copy keeps the entry's fields except ``secrets``. When the run id is readable, the run
        gets a failed result with the reason too; when the attempt is known (an entry delivered
        too often), the run's ``done`` key is written as well.
        """
        dead = {key: value for key, value in fields.items() if _field_name(key) not in WITHHELD_FIELDS}
        dead.update(
            {
                "dead_reason": reason,
                "dead_original_id": entry_id,
                "dead_group": self.settings.worker_group,
                "dead_consumer": self.consumer,
                "dead_at": str(protocol.now_ms()),
            }
        )
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.settings.dead_letter_stream, dead)
            pipe.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
            if run_id is not None:
                result = protocol.result_fields(run_id, ExecutionOutcome.failed(reason), worker=self.consumer, attempt=attempt)
                pipe.xadd(self.settings.results_stream, result)
                if attempt is not None:
                    pipe.set(self._key(run_id, "done"), f"final:{attempt}", px=protocol.DONE_TTL_MS)
            await pipe.execute()
        self.metrics.increment("requests_dead_lettered")
        if run_id is not None:
            self.metrics.increment("runs_failed")
        logger.warning("dead-lettered %s (run %s): %s", entry_id, run_id or "unknown", reason)

    async def event(
        self,
        request: PluginRequest,
        kind: str,
        *,
        step: Optional[str] = None,
        message: Optional[str] = None,
        redactor: Optional[Redactor] = None,
    ) -> None:
        """Publishes a progress event (best effort: a failure is logged, never raised).

        :param redactor: the run's redactor; the step name and message go through it first.
        """
        if redactor is not None:
            step = None if step is None else redactor.values(step)
            message = redactor.text(message)
        fields = self._event_fields(request, kind, step=step, message=message)
        try:
            await self.client.xadd(self.settings.events_stream, fields)
        except Exception as error:  # progress is best effort; the result is what counts
            logger.warning("run %s: cannot publish the %s event: %s", request.run_id, kind, error)
