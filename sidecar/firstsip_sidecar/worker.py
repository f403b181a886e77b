"""The consumer of ``plugin:requests``: reads, executes, publishes, acknowledges.

Delivery rules (docs/protocol.md):

- The result is published and the request acknowledged in one MULTI/EXEC, which also writes the
  run's ``done`` key, so a redelivered request of a finished run is acknowledged without running.
- A per-run lease (``SET NX PX``, renewed while running) keeps two workers from running one run.
- While a run executes, its pending entry and its lease are renewed, ``heartbeat`` events go out,
  and the cancel key is checked at least every second (the cancel channel makes it prompt).
- Entries idle longer than the claim timeout are reclaimed (XAUTOCLAIM); poison entries and
  entries delivered more than the maximum go to ``<stream>:dead`` with the reason.
- On stop: reading stops, running executions get the grace period, then they are killed and
  their entries stay pending for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets as token
import time
from typing import TYPE_CHECKING, Dict, Optional, Set, Tuple, Union

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import protocol
from .connections import close_client, create_blocking_client, create_client
from .errors import ManifestError, PoisonEntry, SecretsError, UnknownPluginError
from .executor import Execution
from .metrics import Metrics
from .plugins import PluginCatalog
from .sealing import open_secrets
from .types import ExecutionOutcome, PluginRequest

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .settings import Settings

logger = logging.getLogger("firstsip.worker")

EntryId = Union[str, bytes]

_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: EntryId) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _child_traceparent(parent: Optional[str]) -> Optional[str]:
    """A W3C traceparent for the worker's span: the publisher's trace id, a new span id."""
    if not parent:
        return None
    parts = parent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return f"{parts[0]}-{parts[1]}-{token.token_hex(8)}-{parts[3]}"


class Worker:
    """Consumes plugin requests and runs them.

    :param settings: the sidecar settings; the tunables are there (see :class:`Settings`):
        ``concurrency`` (executions at once), ``claim_timeout_seconds`` (idle time before an
        entry is reclaimed, and the lease lifetime), ``max_deliveries``, ``heartbeat_seconds``,
        ``shutdown_grace_seconds``, ``block_seconds`` (one blocking read).
    :param catalog: the plugin catalog; by default one over ``settings.plugin_dir``.
    :param metrics: where counters go; by default a new :class:`Metrics`.
    """

    def __init__(
        self,
        settings: "Settings",
        *,
        catalog: Optional[PluginCatalog] = None,
        metrics: Optional[Metrics] = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or PluginCatalog(settings.plugin_dir)
        self.metrics = metrics or Metrics()
        self.consumer = settings.consumer_name
        self.client: Optional["aioredis.Redis"] = None
        self._blocking: Optional["aioredis.Redis"] = None
        self._handlers: Set[asyncio.Task] = set()
        self._entries: Set[str] = set()
        self._executions: Dict[str, Execution] = {}
        self._loops: Set[asyncio.Task] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._claim_cursor = "0-0"
        self.last_loop_at = 0.0
        self._renew_lease = None
        self._release_lease = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connects, creates the group if needed, and starts the read, claim and cancel loops."""
        self.client = create_client(self.settings)
        self._blocking = create_blocking_client(self.settings)
        self._renew_lease = self.client.register_script(_RENEW_LEASE)
        self._release_lease = self.client.register_script(_RELEASE_LEASE)
        with contextlib.suppress(Exception):
            await self._ensure_group()
        self.last_loop_at = time.monotonic()
        for loop in (self._read_loop(), self._claim_loop(), self._cancel_listener()):
            task = asyncio.ensure_future(loop)
            self._loops.add(task)
        logger.info(
            "worker %s reading %s as group %s (concurrency %d, plugins: %s)",
            self.consumer, self.settings.requests_stream, self.settings.worker_group,
            self.settings.concurrency, ", ".join(self.catalog.names()) or "none",
        )

    async def stop(self, grace_seconds: Optional[float] = None) -> None:
        """Stops reading, lets running executions finish within the grace period, then kills them.

        Killed executions publish nothing and leave their entries pending for another worker.

        :param grace_seconds: the grace period; ``settings.shutdown_grace_seconds`` by default.
        """
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self._stopping.set()
        self._slot_freed.set()
        logger.info("worker %s stopping: %d handler(s) in flight, grace %.1f s", self.consumer, len(self._handlers), grace)
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=grace)
        for execution in list(self._executions.values()):
            logger.warning("run %s: killed at shutdown; its request stays pending", execution.run_id)
            execution.kill()
        if self._handlers:
            done, pending = await asyncio.wait(set(self._handlers), timeout=10)
            for task in pending:
                task.cancel()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, *self._handlers, return_exceptions=True)
        for client in (self._blocking, self.client):
            if client is not None:
                with contextlib.suppress(Exception):
                    await close_client(client)
        logger.info("worker %s stopped", self.consumer)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    @property
    def in_flight(self) -> int:
        """Request handlers running now (each holds one concurrency slot)."""
        return len(self._handlers)

    async def ready(self) -> Tuple[bool, Dict[str, object]]:
        """Whether the worker can take work: Redis answers and the read loop's heartbeat is fresh."""
        details: Dict[str, object] = {"consumer": self.consumer, "in_flight": self.in_flight}
        redis_ok = False
        if self.client is not None:
            try:
                redis_ok = bool(await asyncio.wait_for(self.client.ping(), timeout=2))
            except Exception as error:  # a health probe reports, it does not raise
                details["redis_error"] = str(error)
        age = time.monotonic() - self.last_loop_at
        loop_ok = not self.stopping and age < max(self.settings.block_seconds * 3, 5.0)
        details.update(redis=redis_ok, loop_heartbeat_age_seconds=round(age, 3), stopping=self.stopping)
        return redis_ok and loop_ok, details

    # ------------------------------------------------------------------ loops

    async def _ensure_group(self) -> None:
        assert self.client is not None
        try:
            await self.client.xgroup_create(self.settings.requests_stream, self.settings.worker_group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _free_slots(self) -> int:
        return self.settings.concurrency - len(self._handlers)

    async def _read_loop(self) -> None:
        assert self._blocking is not None
        stream = self.settings.requests_stream
        block_ms = max(int(self.settings.block_seconds * 1000), 1)
        failures = 0
        while not self.stopping:
            self.last_loop_at = time.monotonic()
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), timeout=self.settings.block_seconds)
                continue
            try:
                reply = await self._blocking.xreadgroup(
                    self.settings.worker_group, self.consumer, {stream: ">"}, count=free, block=block_ms
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except ResponseError as error:
                if "NOGROUP" in str(error):
                    logger.warning("group %s on %s is missing; creating it", self.settings.worker_group, stream)
                    with contextlib.suppress(Exception):
                        await self._ensure_group()
                    continue
                failures += 1
                logger.error("reading %s failed: %s", stream, error)
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            except Exception as error:  # the loop edge: log, back off, keep going
                failures += 1
                logger.error("reading %s failed (attempt %d): %s", stream, failures, error)
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            if self.stopping:
                break
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    self._spawn(_text(entry_id), fields or {}, 1)

    async def _forget_idle_consumers(self) -> None:
        """Deletes consumers of the group that own nothing and were idle for an hour or more.

        Consumer names are unique per process, so every restart leaves a name behind; a name
        with no pending entries carries no state.
        """
        assert self.client is not None
        idle_ms = int(max(3600.0, self.settings.claim_timeout_seconds * 10) * 1000)
        for consumer in await self.client.xinfo_consumers(self.settings.requests_stream, self.settings.worker_group):
            name = _text(consumer["name"])
            if name != self.consumer and int(consumer["pending"]) == 0 and int(consumer["idle"]) > idle_ms:
                await self.client.xgroup_delconsumer(self.settings.requests_stream, self.settings.worker_group, name)
                logger.info("removed idle consumer %s from group %s", name, self.settings.worker_group)

    async def _claim_loop(self) -> None:
        stream = self.settings.requests_stream
        claim_ms = int(self.settings.claim_timeout_seconds * 1000)
        next_cleanup = time.monotonic() + 60.0
        while not self.stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.claim_interval_seconds)
            if self.stopping:
                break
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + 600.0
                try:
                    await self._forget_idle_consumers()
                except Exception as error:  # an upkeep step logs and keeps going
                    logger.warning("removing idle consumers failed: %s", error)
            free = self._free_slots()
            if free <= 0:
                continue
            try:
                assert self.client is not None
                reply = await self.client.xautoclaim(
                    stream, self.settings.worker_group, self.consumer, claim_ms, start_id=self._claim_cursor, count=free
                )
                cursor, entries = reply[0], reply[1]
                self._claim_cursor = _text(cursor)
                for entry_id, fields in entries:
                    entry = _text(entry_id)
                    if fields is None or entry in self._entries:
                        # Deleted while pending, or an entry this process is handling right now
                        # (its renewal came late): nothing to start.
                        continue
                    pending = await self.client.xpending_range(
                        stream, self.settings.worker_group, min=entry, max=entry, count=1
                    )
                    deliveries = int(pending[0]["times_delivered"]) if pending else self.settings.max_deliveries + 1
                    self.metrics.increment("requests_reclaimed")
                    logger.info("reclaimed %s (delivery %d) from an idle consumer", entry, deliveries)
                    self._spawn(entry, fields, deliveries)
            except asyncio.CancelledError:
                raise
            except ResponseError as error:
                if "NOGROUP" in str(error):
                    with contextlib.suppress(Exception):
                        await self._ensure_group()
                else:
                    logger.error("reclaiming idle entries failed: %s", error)
            except Exception as error:  # an upkeep loop logs and keeps going
                logger.error("reclaiming idle entries failed: %s", error)

    async def _cancel_listener(self) -> None:
        channel = protocol.cancel_channel(self.settings.key_prefix)
        while not self.stopping:
            pubsub = None
            try:
                assert self.client is not None
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(channel)
                while not self.stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        run_id = _text(message["data"]).strip().lower()
                        execution = self._executions.get(run_id)
                        if execution is not None:
                            reason = await self.client.get(protocol.run_key(self.settings.key_prefix, run_id, "cancel"))
                            if reason is not None:
                                self._cancel(execution, _text(reason))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reconnect after a dropped connection
                logger.warning("cancel channel %s: %s; resubscribing", channel, error)
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.reset()

    def _cancel(self, execution: Execution, reason: str) -> None:
        if not execution.cancelled.is_set():
            logger.info("run %s: cancelled (%s)", execution.run_id, reason)
            execution.cancel(reason)

    # ------------------------------------------------------------------ one entry

    def _spawn(self, entry_id: str, fields: Dict, deliveries: int) -> None:
        task = asyncio.ensure_future(self._handle(entry_id, fields, deliveries))
        self._handlers.add(task)
        self._entries.add(entry_id)

        def finished(done: asyncio.Task) -> None:
            self._handlers.discard(done)
            self._entries.discard(entry_id)
            self._slot_freed.set()
            if not done.cancelled() and done.exception() is not None:
                logger.error("handling %s failed; it stays pending: %r", entry_id, done.exception())

        task.add_done_callback(finished)

    def _key(self, run_id: str, suffix: str) -> str:
        return protocol.run_key(self.settings.key_prefix, run_id, suffix)

    @staticmethod
    def _finished(done: Optional[bytes], attempt: int) -> bool:
        """Whether a ``done`` value means this request must not run (see :meth:`_publish`).

        A request is skipped when its attempt is not newer than the finished one: a duplicate or
        a redelivery. A newer attempt (the app retried or re-dispatched the run) runs.
        """
        if done is None:
            return False
        _, _, number = _text(done).partition(":")
        try:
            return attempt <= int(number)
        except ValueError:
            return True

    async def _handle(self, entry_id: str, fields: Dict, deliveries: int) -> None:
        assert self.client is not None
        self.metrics.increment("requests_received")
        try:
            request = protocol.parse_request(fields)
        except PoisonEntry as poison:
            await self._dead_letter(entry_id, fields, poison.reason, poison.run_id, None)
            return

        if self._finished(await self.client.get(self._key(request.run_id, "done")), request.attempt):
            logger.info("run %s already finished; acknowledging %s without running", request.run_id, entry_id)
            await self.client.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
            self.metrics.increment("requests_duplicate")
            return
        if deliveries > self.settings.max_deliveries:
            reason = f"delivered {deliveries} times, more than the maximum {self.settings.max_deliveries}"
            await self._dead_letter(entry_id, fields, reason, request.run_id, request.attempt)
            return
        if await self.client.exists(self._key(request.run_id, "cancel")):
            await self._publish(entry_id, request, ExecutionOutcome.failed("cancelled", kind="cancelled"), None)
            return
        if request.deadline_ms is not None and request.deadline_ms <= protocol.now_ms():
            outcome = ExecutionOutcome.failed("deadline passed before the run started")
            await self._publish(entry_id, request, outcome, None)
            return

        lease_value = f"{self.consumer}:{entry_id}"
        if not await self._acquire_lease(entry_id, request, lease_value):
            return
        try:
            if self._finished(await self.client.get(self._key(request.run_id, "done")), request.attempt):
                await self.client.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
                self.metrics.increment("requests_duplicate")
                return
            await self._execute(entry_id, request, lease_value)
        finally:
            with contextlib.suppress(Exception):
                await self._release_lease(keys=[self._key(request.run_id, "lease")], args=[lease_value])

    async def _acquire_lease(self, entry_id: str, request: PluginRequest, lease_value: str) -> bool:
        """Takes the run's lease; while another worker holds it, keeps the entry and waits.

        Returns False when the entry was settled (the run finished elsewhere) or the worker stops.
        """
        assert self.client is not None
        lease_key = self._key(request.run_id, "lease")
        lease_ms = int(self.settings.claim_timeout_seconds * 1000)
        waiting = False
        while True:
            if await self.client.set(lease_key, lease_value, nx=True, px=lease_ms):
                return True
            if not waiting:
                logger.info("run %s is leased by another worker; %s waits for it", request.run_id, entry_id)
                waiting = True
            if self._finished(await self.client.get(self._key(request.run_id, "done")), request.attempt):
                await self.client.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
                self.metrics.increment("requests_duplicate")
                return False
            await self._renew_entry(entry_id)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(self.settings.renew_interval_seconds, 1.0))
            if self.stopping:
                return False

    async def _renew_entry(self, entry_id: str) -> None:
        assert self.client is not None
        await self.client.xclaim(
            self.settings.requests_stream, self.settings.worker_group, self.consumer, 0, [entry_id], justid=True
        )

    def _failure(self, request: PluginRequest, error: str) -> ExecutionOutcome:
        logger.warning("run %s (%s) failed before it started: %s", request.run_id, request.plugin_name, error)
        return ExecutionOutcome.failed(error)

    async def _execute(self, entry_id: str, request: PluginRequest, lease_value: str) -> None:
        assert self.client is not None
        try:
            manifest = self.catalog.get(request.plugin_name)
        except (UnknownPluginError, ManifestError) as error:
            await self._publish(entry_id, request, self._failure(request, str(error)), None)
            return
        opened: Dict[str, str] = {}
        if request.secrets:
            try:
                opened = open_secrets(request.secrets, self.settings.seal_key, request.raw_run_id)
            except SecretsError as error:
                outcome = self._failure(request, f"cannot open the run's secrets: {error}")
                await self._publish(entry_id, request, outcome, None)
                return
        settings = manifest.merged_settings(request.settings)
        problems = manifest.validate_settings(settings)
        if problems:
            text = "invalid settings: " + "; ".join(f"{path}: {message}" for path, message in problems)
            await self._publish(entry_id, request, self._failure(request, text), None)
            return

        timeout = request.timeout_seconds or manifest.timeout_seconds or self.settings.default_timeout_seconds

        async def on_step(step: str, message: Optional[str]) -> None:
            await self._event(request, "step", step=step, message=message)

        execution = Execution(
            manifest=manifest,
            run_id=request.run_id,
            attempt=request.attempt,
            settings=settings,
            secrets=opened,
            timeout_seconds=timeout,
            on_step=on_step,
        )
        self._executions[request.run_id] = execution
        self.metrics.in_flight += 1
        started = time.monotonic()
        # The keepalive is stopped through an event and never cancelled: with redis-py 4.3 on async-timeout 4.0.2
        # a cancellation that lands during a command can be lost, and awaiting the task would then never end.
        stop_keepalive = asyncio.Event()
        keepalive = asyncio.ensure_future(self._keepalive(entry_id, request, execution, lease_value, stop_keepalive))
        try:
            logger.info("run %s: %s started (attempt %d, timeout %g s)", request.run_id, manifest.name, request.attempt, timeout)
            await self._event(request, "started")
            outcome = await execution.run()
        finally:
            stop_keepalive.set()
            with contextlib.suppress(Exception):
                await keepalive
            self._executions.pop(request.run_id, None)
            self.metrics.in_flight -= 1
        elapsed = time.monotonic() - started
        self.metrics.observe_execution(elapsed)
        if outcome is None:
            return
        await self._publish(entry_id, request, outcome, int(elapsed * 1000))

    async def _keepalive(
        self, entry_id: str, request: PluginRequest, execution: Execution, lease_value: str, stop: asyncio.Event
    ) -> None:
        """Renews the entry and the lease, sends heartbeats and watches the cancel key until ``stop`` is set."""
        assert self.client is not None
        tick = min(1.0, self.settings.renew_interval_seconds / 2, self.settings.heartbeat_seconds)
        lease_key = self._key(request.run_id, "lease")
        lease_ms = int(self.settings.claim_timeout_seconds * 1000)
        now = time.monotonic()
        next_renew = now + self.settings.renew_interval_seconds
        next_heartbeat = now + self.settings.heartbeat_seconds
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
            if stop.is_set():
                return
            try:
                reason = await self.client.get(self._key(request.run_id, "cancel"))
                if reason is not None:
                    self._cancel(execution, _text(reason))
                now = time.monotonic()
                if now >= next_renew:
                    next_renew = now + self.settings.renew_interval_seconds
                    await self._renew_entry(entry_id)
                    if not await self._renew_lease(keys=[lease_key], args=[lease_value, lease_ms]):
                        logger.warning("run %s: its lease was lost; another worker may run it too", request.run_id)
                if now >= next_heartbeat:
                    next_heartbeat = now + self.settings.heartbeat_seconds
                    await self._event(request, "heartbeat")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an upkeep loop logs and keeps going
                logger.warning("run %s: keepalive failed: %s", request.run_id, error)

    async def _event(self, request: PluginRequest, kind: str, *, step: Optional[str] = None, message: Optional[str] = None) -> None:
        assert self.client is not None
        fields = protocol.event_fields(
            request.run_id, kind, worker=self.consumer, attempt=request.attempt, step=step, message=message,
            traceparent=_child_traceparent(request.traceparent),
        )
        try:
            await self.client.xadd(self.settings.events_stream, fields)
        except Exception as error:  # progress is best effort; the result is what counts
            logger.warning("run %s: cannot publish the %s event: %s", request.run_id, kind, error)

    async def _publish(
        self, entry_id: str, request: PluginRequest, outcome: ExecutionOutcome, duration_ms: Optional[int]
    ) -> None:
        """Publishes the result, acknowledges the request and writes the ``done`` key, atomically.

        ``done`` is ``final:<attempt>`` or, for a retryable failure, ``retry:<attempt>``; requests of
        that attempt or an older one are then acknowledged without running.
        """
        assert self.client is not None
        fields = protocol.result_fields(
            request.run_id,
            outcome,
            worker=self.consumer,
            attempt=request.attempt,
            duration_ms=duration_ms,
            traceparent=_child_traceparent(request.traceparent),
        )
        size = len(fields["payload"].encode("utf-8"))
        if size > self.settings.max_result_bytes:
            outcome = ExecutionOutcome.failed(f"output too large ({size} bytes, limit {self.settings.max_result_bytes})")
            fields = protocol.result_fields(
                request.run_id, outcome, worker=self.consumer, attempt=request.attempt,
                duration_ms=duration_ms, traceparent=fields.get("traceparent"),
            )
        done = f"{'retry' if outcome.retryable else 'final'}:{request.attempt}"
        delay = 0.2
        give_up = time.monotonic() + max(self.settings.claim_timeout_seconds, 5.0)
        while True:
            try:
                async with self.client.pipeline(transaction=True) as pipe:
                    pipe.xadd(self.settings.results_stream, fields)
                    pipe.xack(self.settings.requests_stream, self.settings.worker_group, entry_id)
                    pipe.set(self._key(request.run_id, "done"), done, px=protocol.DONE_TTL_MS)
                    await pipe.execute()
                break
            except (RedisConnectionError, RedisTimeoutError) as error:
                # The request stays pending if this never succeeds; another delivery runs it again.
                if time.monotonic() + delay > give_up:
                    raise
                logger.warning("run %s: publishing the result failed (%s); retrying", request.run_id, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._count(outcome)
        detail = f" ({outcome.error})" if outcome.status == "failed" and outcome.error != outcome.kind else ""
        logger.info("run %s: %s%s", request.run_id, outcome.kind, detail)

    def _count(self, outcome: ExecutionOutcome) -> None:
        if outcome.status == "completed":
            self.metrics.increment("runs_completed")
            return
        self.metrics.increment("runs_failed")
        if outcome.kind == "timed_out":
            self.metrics.increment("runs_timed_out")
        elif outcome.kind == "cancelled":
            self.metrics.increment("runs_cancelled")

    async def _dead_letter(
        self, entry_id: str, fields: Dict, reason: str, run_id: Optional[str], attempt: Optional[int]
    ) -> None:
        """Moves an entry to ``<stream>:dead`` with the reason, acknowledging it in the same MULTI.

        When the run id is readable, the run gets a failed result with the reason too; when the
        attempt is known (an entry delivered too often), the run's ``done`` key is written as well.
        """
        assert self.client is not None
        dead = dict(fields)
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

