"""Typed settings for the sidecar, read from the environment.

Every setting has a documented default; :meth:`Settings.from_env` is the one place that reads
environment variables. ``REDIS_URL``, ``PLUGIN_DIR`` and ``CREW_TIMEOUT_SECONDS`` keep the names
of the original system.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import uuid
from typing import Mapping, Optional, Tuple
from urllib.parse import urlparse

from .environment import NEVER, is_variable_name
from .errors import ConfigurationError

ISOLATIONS = ("pool", "process")
"""How plugin runs are isolated: ``pool`` (pre-started processes reused per plugin) or ``process`` (a fresh one per run)."""


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to talk to it.

    :param url: a ``redis://`` or ``rediss://`` URL (user, password, database and TLS through it).
    :param host: host name, derived from the URL.
    :param port: port, derived from the URL.
    """

    url: str = "redis://localhost:6379"
    host: str = "localhost"
    port: int = 6379

    @classmethod
    def from_redis_url(cls, url: str) -> "RedisSettings":
        """Builds the settings from a Redis URL.

        :param url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://...``.
        :raises ConfigurationError: the URL is not a Redis URL.
        """
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError(f"REDIS_URL must be a redis:// or rediss:// URL, not {parsed.scheme or url!r}")
        return cls(url=url, host=parsed.hostname or "localhost", port=parsed.port or 6379)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, which containers narrow), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_consumer_name() -> str:
    """A consumer name unique per process: ``{host}-{pid}-{random}``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the sidecar can be configured with.

    :param redis: Redis connection (``REDIS_URL``, default ``redis://localhost:6379``).
    :param plugin_dir: folder holding one folder per plugin (``PLUGIN_DIR``, default ``./plugins``).
    :param default_timeout_seconds: execution timeout when neither the request nor the plugin
        sets one (``CREW_TIMEOUT_SECONDS``, default 300).
    :param concurrency: executions at once (``SIDECAR_CONCURRENCY``, default: the CPU count).
    :param host: HTTP bind address (``SIDECAR_HOST``, default 127.0.0.1).
    :param port: HTTP port (``SIDECAR_PORT``, default 8000).
    :param seal_key: 32-byte key that opens sealed secrets (``FIRSTSIP_SEAL_KEY``, base64).
    :param requests_stream: ``FIRSTSIP_REQUESTS_STREAM``, default ``plugin:requests``.
    :param results_stream: ``FIRSTSIP_RESULTS_STREAM``, default ``plugin:results``.
    :param events_stream: ``FIRSTSIP_EVENTS_STREAM``, default ``plugin:events``.
    :param worker_group: ``FIRSTSIP_WORKER_GROUP``, default ``crewai-workers``.
    :param key_prefix: prefix of per-run keys and the cancel channel (``FIRSTSIP_KEY_PREFIX``,
        default ``firstsip:``).
    :param claim_timeout_seconds: idle time after which another worker reclaims an entry
        (``SIDECAR_CLAIM_TIMEOUT_SECONDS``, default 60); also the lifetime of a run's lease.
    :param max_deliveries: deliveries after which an entry is dead-lettered
        (``SIDECAR_MAX_DELIVERIES``, default 5).
    :param heartbeat_seconds: interval of ``heartbeat`` events (``SIDECAR_HEARTBEAT_SECONDS``, default 5).
    :param started_event_delay_seconds: how long an execution runs before its ``started`` event goes
        out on its own (``SIDECAR_STARTED_EVENT_DELAY_SECONDS``, default 0.01); an execution that ends
        sooner sends no started event, its result carries ``started_at`` instead.
    :param shutdown_grace_seconds: how long SIGTERM lets running executions finish before they
        are killed (``SIDECAR_SHUTDOWN_GRACE_SECONDS``, default 30).
    :param block_seconds: how long one blocking read waits (``SIDECAR_BLOCK_SECONDS``, default 1).
    :param max_result_bytes: a result payload larger than this is replaced by a failure
        ``output too large`` (``SIDECAR_MAX_RESULT_BYTES``, default 1 MiB, the .NET reader's limit).
    :param consumer_name: the consumer name (``SIDECAR_CONSUMER_NAME``, default unique per process).
    :param worker_ttl_seconds: lifetime of the worker's registry key, rewritten every third of it
        (``SIDECAR_WORKER_TTL_SECONDS``, default 15); a dead worker leaves the registry within it.
    :param log_level: ``SIDECAR_LOG_LEVEL``, default ``INFO``.
    :param plugin_env: names of environment variables every plugin process receives besides the
        allowlist and its manifest's ``env`` (``SIDECAR_PLUGIN_ENV``, comma-separated, default none).
    :param isolation: ``pool`` (the default: runs go to pre-started pooled processes, one per
        concurrency slot, see :mod:`firstsip_sidecar.pool`) or ``process`` (a fresh process per
        run for every plugin) (``SIDECAR_ISOLATION``). A plugin's manifest may ask for
        ``isolation: process`` on its own.
    :param pool_max_runs: runs after which a pooled process is replaced by a fresh one
        (``SIDECAR_POOL_MAX_RUNS``, default 10000; 0 for no limit).
    :param pool_max_memory_mb: resident memory, in MiB, above which a pooled process is replaced
        after its run (``SIDECAR_POOL_MAX_MEMORY_MB``, default 1024; 0 for no limit).
    """

    redis: RedisSettings = dataclasses.field(default_factory=RedisSettings)
    plugin_dir: str = "./plugins"
    default_timeout_seconds: float = 300.0
    concurrency: int = dataclasses.field(default_factory=cpu_count)
    host: str = "127.0.0.1"
    port: int = 8000
    seal_key: Optional[bytes] = dataclasses.field(default=None, repr=False)
    requests_stream: str = "plugin:requests"
    results_stream: str = "plugin:results"
    events_stream: str = "plugin:events"
    worker_group: str = "crewai-workers"
    key_prefix: str = "firstsip:"
    claim_timeout_seconds: float = 60.0
    max_deliveries: int = 5
    heartbeat_seconds: float = 5.0
    started_event_delay_seconds: float = 0.01
    shutdown_grace_seconds: float = 30.0
    block_seconds: float = 1.0
    max_result_bytes: int = 1_048_576
    consumer_name: str = dataclasses.field(default_factory=default_consumer_name)
    worker_ttl_seconds: float = 15.0
    log_level: str = "INFO"
    plugin_env: Tuple[str, ...] = ()
    isolation: str = "pool"
    pool_max_runs: int = 10000
    pool_max_memory_mb: int = 1024

    @property
    def dead_letter_stream(self) -> str:
        """The dead-letter stream of the requests stream: ``<requests>:dead``."""
        return f"{self.requests_stream}:dead"

    @property
    def renew_interval_seconds(self) -> float:
        """How often a running entry's idle time and lease are renewed (a third of the claim timeout)."""
        return max(self.claim_timeout_seconds / 3.0, 0.1)

    @property
    def claim_interval_seconds(self) -> float:
        """How often idle entries of other consumers are looked for (half the claim timeout, at most 10 s)."""
        return min(max(self.claim_timeout_seconds / 2.0, 0.2), 10.0)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        """Reads the settings from environment variables (see the class docstring).

        :param environ: the variables; ``os.environ`` when omitted.
        :raises ConfigurationError: a value cannot be parsed or is out of range.
        """
        env = os.environ if environ is None else environ

        def text(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, default: float, minimum: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
            if value < minimum:
                raise ConfigurationError(f"{name} must be at least {minimum:g}, not {raw}")
            return value

        def integer(name: str, default: int, minimum: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
            if value < minimum:
                raise ConfigurationError(f"{name} must be at least {minimum}, not {raw}")
            return value

        seal_key = None
        raw_key = env.get("FIRSTSIP_SEAL_KEY", "").strip()
        if raw_key:
            try:
                seal_key = base64.b64decode(raw_key, validate=True)
            except ValueError:
                raise ConfigurationError("FIRSTSIP_SEAL_KEY must be base64") from None
            if len(seal_key) != 32:
                raise ConfigurationError(f"FIRSTSIP_SEAL_KEY must be 32 bytes, not {len(seal_key)}")

        plugin_env = tuple(name.strip() for name in env.get("SIDECAR_PLUGIN_ENV", "").split(",") if name.strip())
        for name in plugin_env:
            if not is_variable_name(name):
                raise ConfigurationError(f"SIDECAR_PLUGIN_ENV: {name!r} is not a variable name")
            if name in NEVER:
                raise ConfigurationError(f"SIDECAR_PLUGIN_ENV: {name} is never passed to plugins")

        isolation = text("SIDECAR_ISOLATION", "pool").lower()
        if isolation not in ISOLATIONS:
            raise ConfigurationError(f"SIDECAR_ISOLATION must be pool or process, not {isolation!r}")

        settings = cls(
            redis=RedisSettings.from_redis_url(text("REDIS_URL", "redis://localhost:6379")),
            plugin_dir=text("PLUGIN_DIR", "./plugins"),
            default_timeout_seconds=number("CREW_TIMEOUT_SECONDS", 300.0, 0.1),
            concurrency=integer("SIDECAR_CONCURRENCY", cpu_count(), 1),
            host=text("SIDECAR_HOST", "127.0.0.1"),
            port=integer("SIDECAR_PORT", 8000, 0),
            seal_key=seal_key,
            requests_stream=text("FIRSTSIP_REQUESTS_STREAM", "plugin:requests"),
            results_stream=text("FIRSTSIP_RESULTS_STREAM", "plugin:results"),
            events_stream=text("FIRSTSIP_EVENTS_STREAM", "plugin:events"),
            worker_group=text("FIRSTSIP_WORKER_GROUP", "crewai-workers"),
            key_prefix=text("FIRSTSIP_KEY_PREFIX", "firstsip:"),
            claim_timeout_seconds=number("SIDECAR_CLAIM_TIMEOUT_SECONDS", 60.0, 0.2),
            max_deliveries=integer("SIDECAR_MAX_DELIVERIES", 5, 1),
            heartbeat_seconds=number("SIDECAR_HEARTBEAT_SECONDS", 5.0, 0.05),
            started_event_delay_seconds=number("SIDECAR_STARTED_EVENT_DELAY_SECONDS", 0.01, 0.0),
            shutdown_grace_seconds=number("SIDECAR_SHUTDOWN_GRACE_SECONDS", 30.0, 0.0),
            block_seconds=number("SIDECAR_BLOCK_SECONDS", 1.0, 0.01),
            max_result_bytes=integer("SIDECAR_MAX_RESULT_BYTES", 1_048_576, 1024),
            consumer_name=text("SIDECAR_CONSUMER_NAME", default_consumer_name()),
            worker_ttl_seconds=number("SIDECAR_WORKER_TTL_SECONDS", 15.0, 0.3),
            log_level=text("SIDECAR_LOG_LEVEL", "INFO").upper(),
            plugin_env=plugin_env,
            isolation=isolation,
            pool_max_runs=integer("SIDECAR_POOL_MAX_RUNS", 10000, 0),
            pool_max_memory_mb=integer("SIDECAR_POOL_MAX_MEMORY_MB", 1024, 0),
        )
        return settings
