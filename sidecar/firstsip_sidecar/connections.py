"""Redis clients of the sidecar.

The worker uses three: a pooled client for ordinary commands (sized above the concurrency), a
dedicated single connection for the blocking ``XREADGROUP`` (so the block never delays other
commands), and a pub/sub connection for cancel announcements. Replies are bytes; the protocol
module decodes them. Connections are named ``firstsip-sidecar:<consumer>`` (``...:read`` for the
blocking one) in ``CLIENT LIST``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional, Tuple

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from .settings import Settings


def create_client(settings: Settings, *, max_connections: Optional[int] = None) -> "aioredis.Redis":
    """A pooled client for ordinary commands.

    :param settings: the sidecar settings (``REDIS_URL``).
    :param max_connections: pool size; by default twice the concurrency plus a few for upkeep.
    """
    size = max_connections or settings.concurrency * 2 + 8
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis.url,
        max_connections=size,
        timeout=30,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
        client_name=f"firstsip-sidecar:{settings.consumer_name}",
    )
    return aioredis.Redis(connection_pool=pool)


def create_blocking_client(settings: Settings) -> "aioredis.Redis":
    """A client with one connection, used only for the blocking read.

    Its socket timeout exceeds the block time, so an idle block never looks like a dead socket.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis.url,
        max_connections=1,
        timeout=settings.block_seconds + 30,
        socket_timeout=settings.block_seconds + 10,
        socket_connect_timeout=5,
        client_name=f"firstsip-sidecar:{settings.consumer_name}:read",
    )
    return aioredis.Redis(connection_pool=pool)


async def close_client(client: "aioredis.Redis") -> None:
    """Closes a client and its pool (redis-py 4.3 names it ``close``; later versions ``aclose``)."""
    closer = getattr(client, "aclose", None) or client.close
    await closer()
    await client.connection_pool.disconnect()


class LuaScript:
    """A server-side Lua script, sent by its SHA1 (``EVALSHA``) and by its text only when the server does not
    have it (after a restart or a ``SCRIPT FLUSH``), which loads it again.

    :param text: the script.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode("utf-8")).hexdigest()

    async def __call__(self, client: "aioredis.Redis", keys: Tuple[str, ...], *args: Any) -> Any:
        """Runs the script with ``keys`` and ``args`` on ``client`` and returns its reply."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.text, len(keys), *keys, *args)
