"""The consumer of ``plugin:requests``: reads, claims, and takes each request to its outcome.

Delivery rules (docs/protocol.md):

- The result is published and the request acknowledged in one atomic step, which also writes the
  run's ``done`` key and releases the lease (:mod:`~firstsip_sidecar.outcomes`). ``final:<n>`` settles every attempt of the
  run; ``retry:<n>`` settles attempts up to ``n``. The same step reads the worker's next new request, which takes
  the slot the run frees (none once the worker stops): a busy worker reads between runs without a blocking read.
- A per-run lease (:mod:`~firstsip_sidecar.leases`) keeps two workers from running one run. Before
  a run starts, under its lease, the worker reads the ``done`` and ``cancel`` keys and the request's
  ``queue_deadline`` and ``deadline`` (:mod:`~firstsip_sidecar.limits`): a settled run is
  acknowledged, a run terminal in the app ends ``cancelled``, a run past its queue timeout or
  deadline ends ``not_started``.
- While a run executes (:mod:`~firstsip_sidecar.keepalive`), its pending entry and its lease are
  renewed, ``heartbeat`` events go out, and the ``cancel`` and ``done`` keys are checked at least
  every second (the cancel channel makes a cancel prompt). A lease another worker took kills the
  execution without a result.
- Entries idle longer than the claim timeout are reclaimed (XAUTOCLAIM); poison entries and
  entries delivered more than the maximum go to ``<stream>:dead`` with the reason.
- On stop: reading stops, running executions get the grace period, then they are killed and
  their entries stay pending for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple, Union

from redis.exceptions import ResponseError

from . import credentials, limits, protocol
from .connections import close_client, create_blocking_client, create_client
from .environment import named_variables, plugin_environment
from .errors import ManifestError, PoisonEntry, SecretsError, UnknownPluginError
from .executor import Execution
from .keepalive import Keepalive, renew_entry
from .leases import Lease
from .metrics import Metrics
from .outcomes import Outcomes
from .plugins import PluginCatalog
from .pool import ProcessPool
from .redaction import Redactor
from .registry import WorkerAnnouncement
from .sealing import open_secrets
from .types import ExecutionOutcome, PluginRequest

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .settings import Settings

logger = logging.getLogger("firstsip.worker")

EntryId = Union[str, bytes]


def _text(value: Optional[EntryId]) -> Optional[str]:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


class Worker:
    """Consumes plugin requests and runs them.

    :param settings: the sidecar settings; the tunables are there (see :class:`Settings`):
        ``concurrency`` (executions at once), ``claim_timeout_seconds`` (idle time before an
        entry is reclaimed, and the lease lifetime), ``max_deliveries``, ``heartbeat_seconds``,
        ``shutdown_grace_seconds``, ``block_seconds`` (one blocking read), ``plugin_env``.
    :param catalog: the plugin catalog; by default one over ``settings.plugin_dir``, scanned
        off the event loop when the worker starts.
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
        self._scan_at_start = catalog is None
        self.catalog = catalog or PluginCatalog(settings.plugin_dir, scan=False)
        self.metrics = metrics or Metrics()
        self.consumer = settings.consumer_name
        self.client: Optional["aioredis.Redis"] = None
        self.outcomes: Optional[Outcomes] = None
        self._blocking: Optional["aioredis.Redis"] = None
        self._handlers: Set[asyncio.Task] = set()
        self._entries: Set[str] = set()
        self._executions: Dict[str, Execution] = {}
        self._running: Dict[str, Dict[str, object]] = {}
        self._announcement: Optional[WorkerAnnouncement] = None
        self._loops: Set[asyncio.Task] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._claim_cursor = "0-0"
        self.last_loop_at = 0.0
        self.pool: Optional[ProcessPool] = None
        self._environments: Dict[Tuple[str, ...], Dict[str, str]] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connects, creates the group if needed, and starts the read, claim and cancel loops."""
        if self._scan_at_start:
            await asyncio.to_thread(self.catalog.scan)
        self.client = create_client(self.settings)
        self._blocking = create_blocking_client(self.settings)
        self.outcomes = Outcomes(self.client, self.settings, self.consumer, self.metrics)
        if self.settings.isolation == "pool":
            self.pool = ProcessPool(
                self.settings.concurrency,
                env=plugin_environment(self.settings.plugin_env),
                max_runs=self.settings.pool_max_runs,
                max_memory_bytes=self.settings.pool_max_memory_mb * 1024 * 1024,
            )
            await self.pool.start()
        with contextlib.suppress(Exception):
            await self._ensure_group()
        self.last_loop_at = time.monotonic()
        self._announcement = WorkerAnnouncement(
            self.client, self.settings, plugins=self.catalog.names, running=lambda: list(self._running.values())
        )
        for loop in (self._read_loop(), self._claim_loop(), self._cancel_listener(), self._announcement.run(self._stopping)):
            task = asyncio.ensure_future(loop)
            self._loops.add(task)
        logger.info(
            "worker %s reading %s as group %s (concurrency %d, %s, plugins: %s)",
            self.consumer, self.settings.requests_stream, self.settings.worker_group, self.settings.concurrency,
            "a fresh process per run" if self.pool is None else f"{self.pool.size} pooled processes",
            ", ".join(self.catalog.names()) or "none",
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
        if self._announcement is not None:
            with contextlib.suppress(Exception):
                await self._announcement.withdraw()
        if self.pool is not None:
            await self.pool.close()
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
        if self.pool is not None:
            details["pool"] = {"pids": self.pool.pids, "started": self.pool.started_processes, "replaced": self.pool.recycled}
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
                # Not asyncio.timeout(): it relies on the task's count of cancel requests, and in this task (Python
                # 3.11.2 with redis-py 4.3) its expiry came out as CancelledError, which ends the loop.
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
                                self._cancel(execution, _text(reason) or "")
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
            logger.info("run %s: cancelled (%s)", execution.run_id, execution.redactor.text(reason))
            execution.cancel(reason or "the run is terminal in the app")

    # ------------------------------------------------------------------ one entry

    def _spawn(self, entry_id: str, fields: Dict, deliveries: int) -> None:
        task = asyncio.ensure_future(self._handle(entry_id, fields, deliveries))
        self._handlers.add(task)
        self._entries.add(entry_id)

        def finished(done: asyncio.Task) -> None:
            self._handlers.discard(done)
            self._entries.discard(entry_id)
            if self._free_slots() > 0:  # not when the handler passed its slot on to the next request
                self._slot_freed.set()
            if not done.cancelled() and done.exception() is not None:
                logger.error("handling %s failed; it stays pending: %r", entry_id, done.exception())

        task.add_done_callback(finished)

    def _plugin_environment(self, names: Tuple[str, ...]) -> Dict[str, str]:
        """:func:`~firstsip_sidecar.environment.plugin_environment`, made once per set of names: the worker's own
        environment does not change while it runs, and one dict for every run lets a pooled process be told only once."""
        env = self._environments.get(names)
        if env is None:
            env = self._environments[names] = plugin_environment(names)
        return env

    def _key(self, run_id: str, suffix: str) -> str:
        return protocol.run_key(self.settings.key_prefix, run_id, suffix)

    async def _handle(self, entry_id: str, fields: Dict, deliveries: int) -> None:
        assert self.client is not None and self.outcomes is not None
        self.metrics.increment("requests_received")
        try:
            request = protocol.parse_request(fields)
        except PoisonEntry as poison:
            await self.outcomes.dead_letter(entry_id, fields, poison.reason, poison.run_id, None)
            return

        if deliveries > self.settings.max_deliveries:
            done = _text(await self.client.get(self._key(request.run_id, "done")))
            if protocol.done_blocks(done, request.attempt):
                await self.outcomes.acknowledge_duplicate(entry_id, request.run_id, done)
                return
            reason = f"delivered {deliveries} times, more than the maximum {self.settings.max_deliveries}"
            await self.outcomes.dead_letter(entry_id, fields, reason, request.run_id, request.attempt)
            return

        lease = Lease(
            self.client, self._key(request.run_id, "lease"), f"{self.consumer}:{entry_id}",
            self.settings.claim_timeout_seconds,
        )
        # One round trip: take the lease and read the run's markers (read after the lease is taken).
        acquired, cancel, done = await lease.acquire_and_read(
            self._key(request.run_id, "cancel"), self._key(request.run_id, "done")
        )
        if not acquired:
            if protocol.done_blocks(done, request.attempt):
                await self.outcomes.acknowledge_duplicate(entry_id, request.run_id, done)
                return
            if not await self._acquire_lease(entry_id, request, lease):
                return
            cancel, done = (
                _text(value)
                for value in await self.client.mget(self._key(request.run_id, "cancel"), self._key(request.run_id, "done"))
            )
        try:
            await self._start(entry_id, request, lease, cancel, done)
        finally:
            if not lease.released:
                with contextlib.suppress(Exception):
                    await lease.release()

    async def _acquire_lease(self, entry_id: str, request: PluginRequest, lease: Lease) -> bool:
        """Takes the run's lease; while another worker holds it, keeps the entry and waits.

        Returns False when the entry was settled (the run finished elsewhere) or the worker stops.
        """
        assert self.client is not None and self.outcomes is not None
        waiting = False
        while True:
            if await lease.acquire():
                return True
            if not waiting:
                logger.info("run %s is leased by another worker; %s waits for it", request.run_id, entry_id)
                waiting = True
            done = _text(await self.client.get(self._key(request.run_id, "done")))
            if protocol.done_blocks(done, request.attempt):
                await self.outcomes.acknowledge_duplicate(entry_id, request.run_id, done)
                return False
            await renew_entry(self.client, self.settings, self.consumer, entry_id)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(self.settings.renew_interval_seconds, 1.0))
            if self.stopping:
                return False

    async def _start(
        self, entry_id: str, request: PluginRequest, lease: Lease, cancel: Optional[str], done: Optional[str]
    ) -> None:
        """Under the lease, with the run's ``cancel`` and ``done`` read after it was taken: settles a
        run that must not start, else executes it."""
        assert self.client is not None and self.outcomes is not None
        if protocol.done_blocks(done, request.attempt):
            await self.outcomes.acknowledge_duplicate(entry_id, request.run_id, done)
            return
        if cancel is not None:
            await self.outcomes.publish(entry_id, request, ExecutionOutcome.stopped(cancel), lease=lease)
            return
        refusal = limits.refusal(request, protocol.now_ms())
        if refusal is not None:
            await self.outcomes.publish(entry_id, request, refusal, lease=lease)
            return
        await self._execute(entry_id, request, lease)

    async def _fail_before_start(
        self, entry_id: str, request: PluginRequest, error: str, redactor: Optional[Redactor] = None,
        lease: Optional[Lease] = None,
    ) -> None:
        assert self.outcomes is not None
        outcome = ExecutionOutcome.failed(error)
        if redactor is not None:
            outcome = redactor.outcome(outcome)
        logger.warning("run %s (%s) failed before it started: %s", request.run_id, request.plugin_name, outcome.error)
        await self.outcomes.publish(entry_id, request, outcome, redactor=redactor, lease=lease)

    async def _execute(self, entry_id: str, request: PluginRequest, lease: Lease) -> None:
        assert self.client is not None and self.outcomes is not None
        outcomes = self.outcomes
        try:
            manifest = await self.catalog.lookup(request.plugin_name)
        except (UnknownPluginError, ManifestError) as error:
            await self._fail_before_start(entry_id, request, str(error), lease=lease)
            return
        opened: Dict[str, str] = {}
        if request.secrets:
            try:
                opened = open_secrets(request.secrets, self.settings.seal_key, request.raw_run_id)
            except SecretsError as error:
                await self._fail_before_start(entry_id, request, f"cannot open the run's secrets: {error}", lease=lease)
                return
        # Credentials among the settings (as the original app sent them) become secrets; sealed ones win.
        request_settings, moved = credentials.split(request.settings, manifest.settings_schema)
        opened = {**moved, **opened}
        if manifest.runtime == "crewai":
            opened.update(credentials.crew_fallbacks(opened, os.environ))
        passed_names = tuple(dict.fromkeys(manifest.env + self.settings.plugin_env))
        redactor = Redactor.for_run(opened, named_variables(passed_names))
        settings = manifest.merged_settings(request_settings)
        problems = manifest.validate_settings(settings)
        if problems:
            text = "invalid settings: " + "; ".join(f"{path}: {message}" for path, message in problems)
            await self._fail_before_start(entry_id, request, text, redactor, lease)
            return

        timeout = request.timeout_seconds or manifest.timeout_seconds or self.settings.default_timeout_seconds
        budget = limits.budget(request, timeout, protocol.now_ms())

        steps: List[str] = []
        started_sent: "Optional[asyncio.Future]" = None

        def send_started() -> "asyncio.Future":
            nonlocal started_sent
            if started_sent is None:
                started_sent = asyncio.ensure_future(outcomes.event(request, "started"))
            return started_sent

        async def on_step(step: str, message: Optional[str]) -> None:
            steps.append(step)
            # Events keep their order: a step goes out only after the started event did.
            with contextlib.suppress(Exception):
                await asyncio.shield(send_started())
            await outcomes.event(request, "step", step=step, message=message, redactor=redactor)

        execution = Execution(
            manifest=manifest,
            run_id=request.run_id,
            attempt=request.attempt,
            settings=settings,
            secrets=opened,
            timeout_seconds=budget.seconds,
            timeout_error=budget.timeout_error,
            on_step=on_step,
            env=self._plugin_environment(passed_names),
            lease_ms=lease.child_remaining_ms(),
            redactor=redactor,
            pool=None if manifest.isolation == "process" else self.pool,
        )
        keepalive = Keepalive(
            client=self.client, settings=self.settings, consumer=self.consumer, outcomes=outcomes,
            request=request, entry_id=entry_id, lease=lease, execution=execution, redactor=redactor,
        )
        self._executions[request.run_id] = execution
        started_at = protocol.now_ms()
        self._running[request.run_id] = {
            "run_id": request.run_id, "plugin": manifest.name, "attempt": request.attempt, "started_at": started_at,
        }
        self.metrics.in_flight += 1
        started = time.monotonic()
        stop_keepalive = asyncio.Event()
        keeping: "Optional[asyncio.Future]" = None

        def begin_keepalive() -> None:
            nonlocal keeping
            keeping = asyncio.ensure_future(keepalive.run(stop_keepalive, since=started))

        # The keepalive's first look is one tick in: a run that ends sooner never needs it started.
        loop = asyncio.get_running_loop()
        keepalive_timer = loop.call_later(keepalive.tick, begin_keepalive)
        outcome: Optional[ExecutionOutcome] = None
        try:
            logger.info(
                "run %s: %s started (attempt %d, %g s to run%s)", request.run_id, manifest.name, request.attempt,
                budget.seconds, ", bounded by its deadline" if budget.by_deadline else "",
            )
            # The started event goes out once the execution has run for a moment (or at its first step): a run that
            # ends sooner sends none; its result carries the start (started_at) instead.
            started_timer = loop.call_later(self.settings.started_event_delay_seconds, send_started)
            try:
                outcome = await execution.run()
            finally:
                started_timer.cancel()
                if outcome is None:
                    send_started()  # it did start, even if it ended without a result
                if started_sent is not None:
                    with contextlib.suppress(Exception):
                        await started_sent
        finally:
            keepalive_timer.cancel()
            stop_keepalive.set()
            if keeping is not None:
                with contextlib.suppress(Exception):
                    await keeping
            self._executions.pop(request.run_id, None)
            self._running.pop(request.run_id, None)
            self.metrics.in_flight -= 1
        elapsed = time.monotonic() - started
        self.metrics.observe_execution(elapsed)
        if outcome is None:
            if execution.abandon_reason is not None:
                self.metrics.increment("executions_abandoned")
                logger.warning(
                    "run %s: ended without a result (%s); %s stays pending and nothing was published",
                    request.run_id, execution.abandon_reason, entry_id,
                )
            return
        # The slot this run frees goes to the next request, read in the same step (none once the worker stops).
        taken = await outcomes.publish(
            entry_id, request, outcome, int(elapsed * 1000), redactor=redactor, lease=lease,
            last_step=steps[-1] if steps else None, started_at=started_at if started_sent is None else None,
            take=0 if self.stopping else 1,
        )
        for next_id, fields in taken:
            if self.stopping:
                logger.info("%s was read as the worker stopped; it stays pending for another worker", next_id)
                continue
            self._spawn(next_id, fields, 1)
