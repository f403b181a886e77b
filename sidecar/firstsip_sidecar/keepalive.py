"""What runs beside one execution: renewals, heartbeats and the watch for stop markers.

About every second (never less often than half the renewal interval) the keepalive reads the run's
``cancel`` and ``done`` keys: a ``cancel`` key (the run is terminal in the app) or a ``done`` of
``final:<n>`` (another attempt finished the run) stops the execution, which then ends ``cancelled``.
Every third of the claim timeout it renews the request entry (so no other worker reclaims it) and
the lease, and tells the execution's process how long the lease now holds. A lease another worker
holds kills the execution without a result. ``heartbeat`` events go out at their interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Optional, Union

from . import protocol
from .leases import Lease, Renewal

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .executor import Execution
    from .outcomes import Outcomes
    from .redaction import Redactor
    from .settings import Settings
    from .types import PluginRequest

logger = logging.getLogger("firstsip.keepalive")


def _text(value: Union[str, bytes, None]) -> Optional[str]:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


async def renew_entry(client: "aioredis.Redis", settings: "Settings", consumer: str, entry_id: str) -> None:
    """Resets a pending entry's idle time (``XCLAIM`` to ourselves), so no other worker reclaims it."""
    await client.xclaim(settings.requests_stream, settings.worker_group, consumer, 0, [entry_id], justid=True)


def stop_reason(cancel: Optional[str], done: Optional[str]) -> Optional[str]:
    """Why a running execution must stop, from its run's ``cancel`` and ``done`` values, or ``None``."""
    if cancel is not None:
        return cancel or "the run is terminal in the app"
    if done is not None and done.startswith("final:"):
        return f"another attempt finished the run ({done})"
    return None


class Keepalive:
    """Keeps one execution's entry and lease, reports heartbeats and stops the execution when told.

    :param client: the Redis client.
    :param settings: the sidecar settings.
    :param consumer: this worker's consumer name.
    :param outcomes: publishes the heartbeat events.
    :param request: the run's request.
    :param entry_id: the request entry.
    :param lease: the run's lease, held by this worker.
    :param execution: the execution to keep (and stop).
    :param redactor: the run's redactor, for the stop reason written to the log.
    """

    def __init__(
        self,
        *,
        client: "aioredis.Redis",
        settings: "Settings",
        consumer: str,
        outcomes: "Outcomes",
        request: "PluginRequest",
        entry_id: str,
        lease: Lease,
        execution: "Execution",
        redactor: "Redactor",
    ) -> None:
        self.client = client
        self.settings = settings
        self.consumer = consumer
        self.outcomes = outcomes
        self.request = request
        self.entry_id = entry_id
        self.lease = lease
        self.execution = execution
        self.redactor = redactor

    def stop_execution(self, reason: str) -> None:
        """Stops the execution (it ends ``cancelled`` with the reason); later calls change nothing."""
        if not self.execution.cancelled.is_set():
            logger.info("run %s: stopped (%s)", self.request.run_id, self.redactor.text(reason))
            self.execution.cancel(reason)

    async def check_markers(self) -> None:
        """Reads the ``cancel`` and ``done`` keys once and stops the execution if either says so."""
        prefix = self.settings.key_prefix
        cancel, done = await self.client.mget(
            protocol.run_key(prefix, self.request.run_id, "cancel"), protocol.run_key(prefix, self.request.run_id, "done")
        )
        reason = stop_reason(_text(cancel), _text(done))
        if reason is not None:
            self.stop_execution(reason)

    async def renew(self) -> bool:
        """Renews the entry and the lease; returns False when the lease is lost (the execution is then killed)."""
        await renew_entry(self.client, self.settings, self.consumer, self.entry_id)
        state = await self.lease.renew()
        if state is Renewal.LOST:
            logger.warning(
                "run %s: its lease is held by %s; killing this execution without publishing or acknowledging %s",
                self.request.run_id, self.lease.holder, self.entry_id,
            )
            self.execution.abandon(f"the lease is held by {self.lease.holder}")
            return False
        if state is Renewal.RETAKEN:
            logger.warning("run %s: its lease had expired and was free; took it again and goes on", self.request.run_id)
        self.execution.extend_lease(self.lease.child_remaining_ms())
        return True

    @property
    def tick(self) -> float:
        """Seconds between two looks at the run's keys."""
        settings = self.settings
        return min(1.0, settings.renew_interval_seconds / 2, settings.heartbeat_seconds)

    async def run(self, stop: asyncio.Event, since: Optional[float] = None) -> None:
        """Runs until ``stop`` is set (or the lease is lost).

        It is stopped through the event and never cancelled: with redis-py 4.3 on async-timeout
        4.0.2 a cancellation that lands during a command can be lost.

        :param since: when the execution started (``time.monotonic()``), if before now: the
            schedule counts from then, so a keepalive begun a tick late looks at once.
        """
        settings = self.settings
        tick = self.tick
        began = time.monotonic() if since is None else since
        next_renew = began + settings.renew_interval_seconds
        next_heartbeat = began + settings.heartbeat_seconds
        wait = max(began + tick - time.monotonic(), 0.0)
        while True:
            if wait > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
            wait = tick
            if stop.is_set():
                return
            try:
                await self.check_markers()
                now = time.monotonic()
                if now >= next_renew:
                    next_renew = now + settings.renew_interval_seconds
                    if not await self.renew():
                        return
                if now >= next_heartbeat:
                    next_heartbeat = now + settings.heartbeat_seconds
                    await self.outcomes.event(self.request, "heartbeat")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an upkeep loop logs and keeps going; renewals are retried soon
                next_renew = min(next_renew, time.monotonic() + tick)
                logger.warning("run %s: keepalive failed: %s", self.request.run_id, error)
