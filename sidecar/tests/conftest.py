"""Fixtures: a real redis-server, isolated stream names per test, and sidecar processes.

Redis comes from ``FIRSTSIP_REDIS`` (a redis:// URL) when set; otherwise the fixture starts
``redis-server`` from PATH on a free loopback port and stops it at the end. Without either it
fails at once with the remedy; it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional

import httpx
import pytest
import redis

SIDECAR_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(SIDECAR_ROOT)
TEST_PLUGINS = os.path.join(SIDECAR_ROOT, "tests", "plugins")
STUBS = os.path.join(SIDECAR_ROOT, "tests", "stubs")
REAL_PLUGINS = os.path.join(REPO_ROOT, "plugins")
VECTORS = os.path.join(REPO_ROOT, "..", "shared", "protocol", "v1")
if SIDECAR_ROOT not in sys.path:
    sys.path.insert(0, SIDECAR_ROOT)
REMEDY = "redis-server not found: run ./run test (installs it) or apt-get install redis-server, or set FIRSTSIP_REDIS"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Polls until ``condition()`` is truthy and returns its value; fails after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server process this test session owns (can be stopped and started on its port)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail(REMEDY, pytrace=False)
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 20, "redis-server to answer")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("FIRSTSIP_REDIS")
    if configured:
        yield configured if "://" in configured else f"redis://{configured}"
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


class Names:
    """Stream names and key prefix unique to one test."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:12]
        self.prefix = f"firstsip:test:{tag}:"
        self.requests = f"test:{tag}:plugin:requests"
        self.results = f"test:{tag}:plugin:results"
        self.events = f"test:{tag}:plugin:events"
        self.dead = f"{self.requests}:dead"
        self.group = "crewai-workers"

    def key(self, run_id: str, suffix: str) -> str:
        return f"{self.prefix}run:{run_id}:{suffix}"


@pytest.fixture
def names() -> Names:
    return Names()


def request_fields(run_id: str, plugin: str, settings: Optional[Dict[str, Any]] = None, **extra: Any) -> Dict[str, str]:
    payload = {"plugin_run_id": run_id, "plugin_name": plugin, "user_id": 7, "settings": settings or {}}
    fields = {"payload": json.dumps(payload), "published_at": str(int(time.time())), "schema_version": "v1"}
    fields.update({key: str(value) for key, value in extra.items()})
    return fields


def publish(r: redis.Redis, names: Names, plugin: str, settings: Optional[Dict[str, Any]] = None, **extra: Any) -> str:
    """Publishes a request for a new run and returns the run id."""
    run_id = str(uuid.uuid4())
    r.xadd(names.requests, request_fields(run_id, plugin, settings, **extra))
    return run_id


def results(r: redis.Redis, names: Names) -> List[Dict[str, Any]]:
    """Every result so far: the payload parsed, plus the entry's other fields under ``_fields``."""
    out = []
    for _, fields in r.xrange(names.results):
        payload = json.loads(fields["payload"])
        payload["_fields"] = fields
        out.append(payload)
    return out


def results_for(r: redis.Redis, names: Names, run_id: str) -> List[Dict[str, Any]]:
    return [result for result in results(r, names) if result["plugin_run_id"] == run_id]


def wait_result(r: redis.Redis, names: Names, run_id: str, timeout: float = 60.0) -> Dict[str, Any]:
    """Waits for the first result of a run and returns it."""
    return wait_for(lambda: next(iter(results_for(r, names, run_id)), None), timeout, f"the result of {run_id}")


def events_for(r: redis.Redis, names: Names, run_id: str) -> List[Dict[str, Any]]:
    out = []
    for _, fields in r.xrange(names.events):
        payload = json.loads(fields["payload"])
        if payload["plugin_run_id"] == run_id:
            payload["_fields"] = fields
            out.append(payload)
    return out


def pending_count(r: redis.Redis, names: Names) -> int:
    try:
        return int(r.xpending(names.requests, names.group)["pending"])
    except redis.ResponseError:
        return 0


class Sidecar:
    """A ``python3 -m firstsip_sidecar`` process with its own port and log file."""

    def __init__(self, env: Dict[str, str], log_path: str) -> None:
        self.env = env
        self.port = int(env["SIDECAR_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "firstsip_sidecar"],
            env=env,
            cwd=SIDECAR_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def consumer(self) -> str:
        return self.env["SIDECAR_CONSUMER_NAME"]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)

    def get_or_none(self, path: str) -> Optional[int]:
        """The status code of a GET, or ``None`` while the server does not answer."""
        try:
            return self.get(path).status_code
        except httpx.HTTPError:
            return None

    def ready(self) -> bool:
        try:
            return self.get("/health/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> "Sidecar":
        def check() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the sidecar exited with {self.process.returncode}:\n{self.log()}")
            return self.ready()

        wait_for(check, timeout, "the sidecar to be ready")
        return self

    def log(self) -> str:
        self._log.flush()
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def start_sidecar(
    redis_url: str,
    names: Names,
    log_path: str,
    plugin_dir: str = TEST_PLUGINS,
    stubs: bool = True,
    wait: bool = True,
    **overrides: Any,
) -> Sidecar:
    """Starts a sidecar on the given streams. Keyword arguments become environment variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SIDECAR_", "FIRSTSIP_", "OPENAI_"))}
    path = [SIDECAR_ROOT] + ([STUBS] if stubs else [])
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(path),
            "REDIS_URL": redis_url,
            "PLUGIN_DIR": plugin_dir,
            "SIDECAR_PORT": str(free_port()),
            "SIDECAR_CONCURRENCY": "2",
            "SIDECAR_CONSUMER_NAME": f"worker-{uuid.uuid4().hex[:8]}",
            "SIDECAR_CLAIM_TIMEOUT_SECONDS": "30",
            "SIDECAR_HEARTBEAT_SECONDS": "0.3",
            "SIDECAR_SHUTDOWN_GRACE_SECONDS": "20",
            "SIDECAR_BLOCK_SECONDS": "0.5",
            "FIRSTSIP_REQUESTS_STREAM": names.requests,
            "FIRSTSIP_RESULTS_STREAM": names.results,
            "FIRSTSIP_EVENTS_STREAM": names.events,
            "FIRSTSIP_KEY_PREFIX": names.prefix,
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    sidecar = Sidecar(env, log_path)
    if wait:
        sidecar.wait_ready()
    return sidecar


def worker_settings(redis_url: str, names: Names, plugin_dir: str = TEST_PLUGINS, **overrides: Any) -> Any:
    """Settings for an in-process :class:`~firstsip_sidecar.worker.Worker` on the test's streams."""
    from firstsip_sidecar.settings import Settings

    env = {
        "REDIS_URL": redis_url,
        "PLUGIN_DIR": plugin_dir,
        "SIDECAR_CONCURRENCY": "2",
        "SIDECAR_CONSUMER_NAME": f"worker-{uuid.uuid4().hex[:8]}",
        "SIDECAR_HEARTBEAT_SECONDS": "0.3",
        "SIDECAR_BLOCK_SECONDS": "0.5",
        "FIRSTSIP_REQUESTS_STREAM": names.requests,
        "FIRSTSIP_RESULTS_STREAM": names.results,
        "FIRSTSIP_EVENTS_STREAM": names.events,
        "FIRSTSIP_KEY_PREFIX": names.prefix,
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return Settings.from_env(env)


class ThreadedWorker:
    """An in-process worker on an event loop of its own thread, so a test can stall that loop and watch."""

    def __init__(self, worker: Any) -> None:
        import asyncio
        import threading

        self.worker = worker
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True)
        self.thread.start()
        self.call(worker.start())

    def call(self, coroutine: Any, timeout: float = 60.0) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.worker.stop(grace_seconds=0), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


@pytest.fixture
def sidecar_factory(redis_url: str, names: Names, tmp_path: Any) -> Iterator[Callable[..., Sidecar]]:
    """Starts sidecars on the test's streams (see :func:`start_sidecar`); stops them afterwards."""
    started: List[Sidecar] = []

    def start(wait: bool = True, **options: Any) -> Sidecar:
        log_path = str(tmp_path / f"sidecar-{len(started) + 1}.log")
        sidecar = start_sidecar(redis_url, names, log_path, wait=False, **options)
        started.append(sidecar)
        if wait:
            sidecar.wait_ready()
        return sidecar

    yield start
    for sidecar in started:
        sidecar.close()
