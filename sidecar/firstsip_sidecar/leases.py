"""The per-run lease: ``{prefix}run:{id}:lease``, taken with ``SET NX PX`` and renewed while a run executes.

The lease keeps two workers from executing one run at once. Its holder renews it every third of
its lifetime. A renewal that finds the lease gone takes it again (``SET NX``) and goes on; one
that finds another worker holding it reports it lost, and the worker kills its execution and
publishes nothing (docs/protocol.md, "Stopping runs").

The execution's process is told, after each successful renewal, how long the lease is known to be
held (:meth:`Lease.child_remaining_ms`); it stops itself when that time passes without a newer
word, so a worker whose event loop stalls never overlaps with a worker that took the run over.
That time counts from the moment the renewal was *sent* (the server's expiry is at least that
late) and leaves a safety margin for the message's way to the child.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import TYPE_CHECKING, Optional, Tuple, Union

from .connections import LuaScript

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger("firstsip.leases")


# KEYS: lease. ARGV: holder, lifetime (ms).
_RENEW = LuaScript("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")
_RELEASE = LuaScript("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""")
# Takes the lease if nobody holds it, then reads the other keys (the run's markers), in one command.
# KEYS: lease, then the keys to read. ARGV: holder, lifetime (ms). Returns 1 or 0, then each key's value.
_ACQUIRE_AND_READ = LuaScript("""
local taken = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
local reply = {taken}
for i = 2, #KEYS do
  reply[i] = redis.call('GET', KEYS[i])
end
return reply
""")


def _text(value: Union[str, bytes, None]) -> Optional[str]:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def safety_margin_seconds(lease_seconds: float) -> float:
    """How much earlier than the lease's expiry the child stops itself.

    A fifth of the lease, at least 0.25 s and at most 5 s, and never more than half the lease.
    """
    return min(max(lease_seconds * 0.2, 0.25), 5.0, lease_seconds / 2.0)


class Renewal(enum.Enum):
    """What a renewal found."""

    RENEWED = "renewed"
    """The lease was ours and is extended."""
    RETAKEN = "retaken"
    """The lease had expired and nobody held it; it is ours again."""
    LOST = "lost"
    """Another worker holds the lease."""


class Lease:
    """One run's lease, held by one worker for one request entry.

    :param client: the Redis client.
    :param key: the lease key (``{prefix}run:{id}:lease``).
    :param value: this holder's value (``{consumer}:{entry id}``).
    :param lease_seconds: the lease lifetime (the claim timeout).
    """

    def __init__(self, client: "aioredis.Redis", key: str, value: str, lease_seconds: float) -> None:
        self.client = client
        self.key = key
        self.value = value
        self.lease_seconds = lease_seconds
        self.lease_ms = max(int(lease_seconds * 1000), 1)
        self.margin_seconds = safety_margin_seconds(lease_seconds)
        self.holder: Optional[str] = None
        self.released = False
        # Monotonic time (this process) until which the lease is known to be ours.
        self._valid_until: Optional[float] = None

    async def acquire(self) -> bool:
        """Takes the lease if nobody holds it (``SET NX PX``)."""
        sent = time.monotonic()
        if await self.client.set(self.key, self.value, nx=True, px=self.lease_ms):
            self._valid_until = sent + self.lease_seconds
            return True
        return False

    async def acquire_and_read(self, *keys: str) -> Tuple[bool, ...]:
        """Takes the lease if nobody holds it and reads ``keys`` right after, in one round trip.

        :returns: whether the lease was taken, then each key's value (text or ``None``), read after
            the attempt to take the lease.
        """
        sent = time.monotonic()
        taken, *values = await _ACQUIRE_AND_READ(self.client, (self.key, *keys), self.value, self.lease_ms)
        if taken:
            self._valid_until = sent + self.lease_seconds
        return (bool(taken), *(_text(value) for value in values))

    async def renew(self) -> Renewal:
        """Extends the lease; takes it again when it expired; reports it lost when another worker holds it.

        :raises redis.exceptions.RedisError: Redis did not answer (the lease is then not extended,
            and the execution stops itself when the last known lifetime ends).
        """
        sent = time.monotonic()
        if await _RENEW(self.client, (self.key,), self.value, self.lease_ms):
            self._valid_until = sent + self.lease_seconds
            return Renewal.RENEWED
        sent = time.monotonic()
        if await self.client.set(self.key, self.value, nx=True, px=self.lease_ms):
            self._valid_until = sent + self.lease_seconds
            return Renewal.RETAKEN
        self.holder = _text(await self.client.get(self.key))
        return Renewal.LOST

    async def release(self) -> None:
        """Deletes the lease if it is still ours."""
        await _RELEASE(self.client, (self.key,), self.value)
        self.released = True

    def child_remaining_ms(self) -> int:
        """Milliseconds, from now, the execution's process may go on without a newer extension."""
        if self._valid_until is None:
            return 0
        return max(int((self._valid_until - self.margin_seconds - time.monotonic()) * 1000), 0)
