"""The worker registry: each worker announces itself under a key with a short lifetime.

``{prefix}worker:{consumer}`` holds a JSON object (docs/protocol.md, "Worker registry") that the
worker writes again every third of its lifetime (``SIDECAR_WORKER_TTL_SECONDS``, default 15 s), so
a worker that dies disappears from the registry within that lifetime. A stopping worker deletes its
key. The application lists live workers from these keys and removes consumers of the group that
are neither live nor holding pending entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from . import __version__, protocol

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from .settings import Settings

logger = logging.getLogger("firstsip.registry")


def worker_key(prefix: str, consumer: str) -> str:
    """The registry key of one worker: ``{prefix}worker:{consumer}``.

    :param prefix: the key prefix (``firstsip:`` by default).
    :param consumer: the worker's consumer name.
    """
    return f"{prefix}worker:{consumer}"


class WorkerAnnouncement:
    """Writes one worker's registry entry until told to stop.

    :param client: the Redis client.
    :param settings: the sidecar settings (key prefix, streams, group, concurrency, ``worker_ttl_seconds``).
    :param plugins: returns the plugin names the worker serves.
    :param running: returns the runs executing now, each a dict with ``run_id``, ``plugin``,
        ``attempt`` and ``started_at`` (unix ms).
    """

    def __init__(
        self,
        client: "aioredis.Redis",
        settings: "Settings",
        *,
        plugins: Callable[[], List[str]],
        running: Callable[[], List[Dict[str, object]]],
    ) -> None:
        self.client = client
        self.settings = settings
        self.plugins = plugins
        self.running = running
        self.started_at = protocol.now_ms()
        self.key = worker_key(settings.key_prefix, settings.consumer_name)

    def entry(self) -> Dict[str, object]:
        """The JSON object the key holds now."""
        return {
            "consumer": self.settings.consumer_name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "stream": self.settings.requests_stream,
            "group": self.settings.worker_group,
            "plugins": self.plugins(),
            "slots": self.settings.concurrency,
            "in_flight": self.running(),
            "started_at": self.started_at,
            "seen_at": protocol.now_ms(),
            "ttl_ms": int(self.settings.worker_ttl_seconds * 1000),
        }

    async def announce(self) -> None:
        """Writes the entry with its lifetime (``SET key json PX ttl``)."""
        ttl_ms = max(int(self.settings.worker_ttl_seconds * 1000), 1)
        await self.client.set(self.key, json.dumps(self.entry(), separators=(",", ":")), px=ttl_ms)

    async def withdraw(self) -> None:
        """Deletes the entry (a stopping worker is no longer live)."""
        await self.client.delete(self.key)

    async def run(self, stop: asyncio.Event) -> None:
        """Announces at once, then every third of the lifetime, until ``stop`` is set; then withdraws."""
        interval = max(self.settings.worker_ttl_seconds / 3.0, 0.05)
        while not stop.is_set():
            try:
                await self.announce()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an upkeep loop logs and keeps going
                logger.warning("announcing worker %s failed: %s", self.settings.consumer_name, error)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        with contextlib.suppress(Exception):
            await self.withdraw()


def parse_entry(text: Optional[str]) -> Optional[Dict[str, object]]:
    """Parses a registry value; ``None`` for a missing or unreadable one."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
