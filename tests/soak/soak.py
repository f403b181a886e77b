#!/usr/bin/python3
"""FirstSip fault harness: drives the real web host, sidecars, Redis and PostgreSQL from outside.

Each scenario starts a fresh Redis and a fresh PostgreSQL cluster, the web host (one or two
replicas) and the sidecars, starts runs of the ``soak-work`` plugin through ``POST /api/runs``,
applies its fault (SIGKILL of a sidecar, of Redis, of a web host, a PostgreSQL stop, or none),
waits until every run is terminal or a settle limit passes, and then counts what happened to every
run from three sources: the ``plugin_runs`` and ``briefings`` tables, and the journal every
execution of the plugin appends to (start, ticks, end).

    ./run soak                              # every scenario
    ./run soak --scenario backlog --runs 30 # one scenario, 30 runs
    ./run soak --quick                      # fewer runs and shorter faults: a smoke check

Figures go to the terminal (a table at the end) and to ``.run/soak/<stamp>/summary.json``; every
process's log goes next to it. The exit code is 1 when a scenario misses a target (every run
completes, none is lost, none runs twice at once, no effect applied twice), 2 on a harness error,
130 when interrupted. See tests/soak/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLUGIN_DIR = os.path.join(HERE, "plugins")
PLUGIN = "soak-work"
PYTHON = "/usr/bin/python3"
TERMINAL = ("completed", "failed", "timed_out", "cancelled")
APP_GROUP_STREAMS = ("plugin:requests", "plugin:results", "plugin:events")

# Loopback only, never through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HarnessError(Exception):
    """Something the harness itself could not do (a server did not start, a build failed)."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", file=sys.stderr, flush=True)


def note(text: str) -> None:
    print(f"    {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_call(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Tuple[Optional[int], bytes]:
    """One HTTP request; (status, body), or (None, error text) when there is no answer."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        return None, str(error).encode("utf-8")


# --------------------------------------------------------------------------- processes

_SUBREAPER = False


def become_subreaper() -> None:
    """Makes orphaned descendants (a killed sidecar's executions) children of this process.

    They stay findable, so the harness can stop every process it caused, and it reaps them.
    """
    global _SUBREAPER
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _SUBREAPER = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        _SUBREAPER = False


def _proc_stat(pid: int) -> Optional[Tuple[str, int]]:
    """(state, ppid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], int(fields[1])


def _pgid(pid: int) -> Optional[int]:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def descendants(root: int) -> List[int]:
    """Every live process below ``root`` in the process tree."""
    children: Dict[int, List[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None:
                children[stat[1]].append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Proc:
    """A process the harness starts: its own session and process group, its output in a log file."""

    registry: List["Proc"] = []
    _lock = threading.Lock()

    def __init__(self, name: str, argv: List[str], log_path: str, *, env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None, user: Optional[str] = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.env, self.cwd, self.user = env, cwd, user
        self.popen: Optional[subprocess.Popen] = None
        self.started_at = 0.0
        self.ended_at: Optional[float] = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> "Proc":
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {dt.datetime.now().isoformat(timespec='seconds')} {self.name}: "
                      f"{' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=self.env, cwd=self.cwd, user=self.user,
                group=self.user, extra_groups=[] if self.user else None,
            )
        self.started_at = time.time()
        with Proc._lock:
            Proc.registry.append(self)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def sigkill(self) -> None:
        """SIGKILL to this process only, as a crash would; what its children do is up to them."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self.ended_at = self.ended_at or time.time()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, SIGKILL to it after ``timeout``."""
        if self.popen is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                self.popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        # Members of the group that outlived its leader: only processes below the harness, by pid.
        for pid in descendants(os.getpid()):
            if _pgid(pid) == self.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.ended_at = self.ended_at or time.time()


def reap_orphans() -> None:
    """Reaps zombies that were reparented to the harness (not the ones Popen owns)."""
    if not _SUBREAPER:
        return
    owned = {p.popen.pid for p in Proc.registry if p.popen is not None and p.popen.returncode is None}
    for pid in descendants(os.getpid()):
        stat = _proc_stat(pid)
        if stat and stat[0] == "Z" and stat[1] == os.getpid() and pid not in owned:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def stop_everything() -> List[str]:
    """Stops every process the harness started, newest first, then anything left below the harness."""
    for proc in reversed(Proc.registry):
        try:
            proc.stop()
        except Exception as error:  # keep stopping the others
            note(f"stopping {proc.name}: {error}")
    Proc.registry.clear()
    left = []
    for _ in range(3):
        rest = [pid for pid in descendants(os.getpid()) if (_proc_stat(pid) or ("Z", 0))[0] != "Z"]
        if not rest:
            break
        for pid in rest:
            try:
                left.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:120])
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.3)
    reap_orphans()
    return left


def wait_until(what: str, check: Callable[[], bool], timeout: float, proc: Optional[Proc] = None,
               interval: float = 0.2) -> None:
    """Polls ``check`` until it is true; raises HarnessError after ``timeout`` or when ``proc`` dies."""
    end = time.monotonic() + timeout
    while True:
        if check():
            return
        if proc is not None and not proc.alive():
            raise HarnessError(f"{what}: {proc.name} exited with {proc.popen.returncode}; see {proc.log_path}")
        if time.monotonic() > end:
            raise HarnessError(f"{what}: not within {timeout:g} s; see {proc.log_path if proc else 'the logs'}")
        reap_orphans()
        time.sleep(interval)


def sleep_until(deadline: float) -> None:
    """Sleeps until the wall-clock time ``deadline`` (reaping orphans meanwhile)."""
    while True:
        left = deadline - time.time()
        if left <= 0:
            return
        reap_orphans()
        time.sleep(min(left, 0.25))


# --------------------------------------------------------------------------- servers

def pg_bindir() -> str:
    configured = os.environ.get("FIRSTSIP_PG_BIN")
    if configured and os.path.exists(os.path.join(configured, "postgres")):
        return configured
    base = "/usr/lib/postgresql"
    versions = sorted((d for d in os.listdir(base) if d.isdigit()), key=int) if os.path.isdir(base) else []
    for version in reversed(versions):
        path = os.path.join(base, version, "bin")
        if os.path.exists(os.path.join(path, "postgres")):
            return path
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(found)
    raise HarnessError("PostgreSQL server binaries not found: apt-get install postgresql, or set FIRSTSIP_PG_BIN")


class Postgres:
    """A throw-away cluster (initdb) on a free loopback port, run as user postgres when root."""

    def __init__(self, workdir: str, logs: str) -> None:
        self.bindir = pg_bindir()
        self.dir = workdir
        self.data = os.path.join(workdir, "data")
        self.logs = logs
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.proc: Optional[Proc] = None
        self.database = "soak"

    def _tool(self, name: str, args: List[str]) -> None:
        result = subprocess.run([os.path.join(self.bindir, name), *args], capture_output=True, timeout=120,
                                user=self.user, group=self.user, extra_groups=[] if self.user else None,
                                cwd=self.dir)
        if result.returncode != 0:
            raise HarnessError(f"{name} {' '.join(args)} failed: {(result.stdout + result.stderr).decode()[-2000:]}")

    def init(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._tool("initdb", ["-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])

    def start(self) -> None:
        # fsync=off survives a server crash (the kernel keeps the writes); synchronous_commit stays on, so
        # a commit the app was told about is never lost by `pg_ctl stop -m immediate`.
        argv = [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200"]
        self.proc = Proc("postgres", argv, os.path.join(self.logs, "postgres.log"), user=self.user, cwd=self.dir).start()
        wait_until("PostgreSQL start", self._answers, 60, self.proc, interval=0.1)

    def _answers(self) -> bool:
        try:
            self.sql("select 1", database="postgres", timeout=5)
            return True
        except HarnessError:
            return False

    def stop_immediate(self) -> None:
        """``pg_ctl stop -m immediate``: the server quits at once, as in a crash, and recovers on start."""
        self._tool("pg_ctl", ["-D", self.data, "-m", "immediate", "-w", "-t", "30", "stop"])
        if self.proc is not None:
            try:
                self.proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.stop()
            self.proc.ended_at = time.time()

    def create_database(self) -> None:
        self.sql(f"create database {self.database}", database="postgres")

    @property
    def connection_string(self) -> str:
        return f"Host=127.0.0.1;Port={self.port};Database={self.database};Username=postgres;Timeout=5"

    def sql(self, statement: str, database: Optional[str] = None, timeout: float = 30) -> str:
        env = dict(os.environ, PGCONNECT_TIMEOUT="3")
        argv = [os.path.join(self.bindir, "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database or self.database,
                "-c", statement]
        try:
            result = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"psql timed out: {statement[:80]}") from None
        if result.returncode != 0:
            raise HarnessError(f"psql failed: {result.stderr.decode()[-500:]}")
        return result.stdout.decode().strip()

    def json(self, statement: str) -> Any:
        text = self.sql(statement)
        return json.loads(text) if text else None


class Redis:
    """redis-server on a free loopback port, with or without an append-only file."""

    def __init__(self, workdir: str, logs: str, appendonly: bool) -> None:
        self.dir = workdir
        self.logs = logs
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: Optional[Proc] = None

    def start(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--daemonize", "no", "--loglevel", "notice"]
        argv += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else ["--appendonly", "no"]
        self.proc = Proc("redis", argv, os.path.join(self.logs, "redis.log")).start()
        wait_until("Redis start", self.ping, 30, self.proc, interval=0.05)

    def client(self):
        import redis  # python3-redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=3, socket_connect_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def wipe(self) -> None:
        """Removes the data folder, so the next start is empty."""
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- hosts

def build_web_host() -> str:
    """Builds the web host (quietly unless it fails) and returns the path of its dll."""
    project = os.path.join(ROOT, "samples", "FirstSip.Samples.Web")
    env = dict(os.environ, DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1")
    result = subprocess.run(["dotnet", "build", project, "-c", "Release", "-v", "quiet", "-nologo"],
                            capture_output=True, timeout=900, env=env, cwd=ROOT)
    if result.returncode != 0:
        sys.stderr.write((result.stdout + result.stderr).decode(errors="replace"))
        raise HarnessError("building the web host failed")
    return web_host_dll()


def web_host_dll() -> str:
    project = os.path.join(ROOT, "samples", "FirstSip.Samples.Web")
    result = subprocess.run(["dotnet", "msbuild", project, "-getProperty:TargetPath", "-p:Configuration=Release"],
                            capture_output=True, timeout=300, cwd=ROOT)
    path = result.stdout.decode().strip()
    if result.returncode != 0 or not os.path.exists(path):
        raise HarnessError(f"web host not built (no {path or 'TargetPath'}): run without --no-build")
    return path


class Host:
    """One web host replica or one sidecar: a name, a port, and its current process."""

    def __init__(self, kind: str, name: str, port: int, argv: List[str], env: Dict[str, str], log: str,
                 cwd: Optional[str] = None) -> None:
        self.kind, self.name, self.port, self.argv, self.env, self.log, self.cwd = kind, name, port, argv, env, log, cwd
        self.proc: Optional[Proc] = None
        self.instances: List[Proc] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        status, _ = http_call("GET", self.url + "/health/ready", timeout=2)
        return status == 200

    def start(self, timeout: float) -> None:
        self.proc = Proc(self.name, self.argv, self.log, env=self.env, cwd=self.cwd).start()
        self.instances.append(self.proc)
        wait_until(f"{self.name} readiness", self.ready, timeout, self.proc, interval=0.25)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()


# --------------------------------------------------------------------------- scenarios

class Scenario:
    def __init__(self, name: str, summary: str, *, runs: int, quick_runs: int, seconds: float, sidecars: int,
                 slots: int, replicas: int = 1, burst: bool = False, appendonly: bool = False,
                 fault: Optional[Callable[["Context"], None]] = None) -> None:
        self.name, self.summary = name, summary
        self.runs, self.quick_runs, self.seconds = runs, quick_runs, seconds
        self.sidecars, self.slots, self.replicas = sidecars, slots, replicas
        self.burst, self.appendonly, self.fault = burst, appendonly, fault


class Context:
    """Everything one scenario run owns: servers, hosts, the posted runs and the faults applied."""

    def __init__(self, scenario: Scenario, options: argparse.Namespace, dll: str, folder: str) -> None:
        self.scenario, self.options, self.dll, self.folder = scenario, options, dll, folder
        self.quick = options.quick
        self.runs = options.runs or (scenario.quick_runs if options.quick else scenario.runs)
        self.seconds = options.seconds or scenario.seconds
        self.journal = os.path.join(folder, "journal.jsonl")
        self.tmp = tempfile.mkdtemp(prefix=f"firstsip-soak-{scenario.name}-")
        os.chmod(self.tmp, 0o755)  # the postgres user works below it
        self.pg = Postgres(os.path.join(self.tmp, "pg"), folder)
        self.redis = Redis(os.path.join(self.tmp, "redis"), folder, scenario.appendonly)
        self.webs: List[Host] = []
        self.sidecars: List[Host] = []
        self.posted: List[Dict[str, Any]] = []
        self.rejected: List[Dict[str, Any]] = []
        self.faults: List[Dict[str, Any]] = []
        self.t0 = 0.0
        self.post_window = 0.0
        self._lock = threading.Lock()
        self._stop_posting = threading.Event()

    # ----- time
    def rel(self, at: Optional[float]) -> Optional[float]:
        return None if at is None else round(at - self.t0, 2)

    def at(self, offset: float) -> None:
        sleep_until(self.t0 + offset)

    def fault(self, kind: str, target: str, pid: Optional[int] = None, **extra: Any) -> Dict[str, Any]:
        record = {"kind": kind, "target": target, "pid": pid, "at": time.time(), "back_at": None, **extra}
        self.faults.append(record)
        note(f"+{self.rel(record['at']):6.1f} s  {kind} {target}{f' (pid {pid})' if pid else ''}")
        return record

    def restored(self, record: Dict[str, Any]) -> None:
        record["back_at"] = time.time()
        note(f"+{self.rel(record['back_at']):6.1f} s  {record['target']} back")

    # ----- setup
    def extra_env(self) -> Dict[str, str]:
        env = {}
        for item in self.options.set or []:
            name, _, value = item.partition("=")
            env[name] = value
        return env

    def start_servers(self) -> None:
        self.pg.init()
        self.pg.start()
        self.pg.create_database()
        self.redis.start()

    def make_hosts(self) -> None:
        base = dict(os.environ)
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            base.pop(name, None)
        for i in range(self.scenario.replicas):
            port = free_port()
            env = dict(base, FIRSTSIP_REDIS=f"127.0.0.1:{self.redis.port}", FIRSTSIP_DB=self.pg.connection_string,
                       FIRSTSIP_PLUGINS=PLUGIN_DIR, DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1",
                       Logging__Console__FormatterName="simple", Logging__Console__FormatterOptions__TimestampFormat="HH:mm:ss.fff ")
            env.update(self.extra_env())
            self.webs.append(Host("web", f"web-{i + 1}", port, ["dotnet", self.dll, "--urls", f"http://127.0.0.1:{port}"],
                                  env, os.path.join(self.folder, f"web-{i + 1}.log"), cwd=os.path.dirname(self.dll)))
        for i in range(self.scenario.sidecars):
            port = free_port()
            env = dict(base, REDIS_URL=f"redis://127.0.0.1:{self.redis.port}", PLUGIN_DIR=PLUGIN_DIR,
                       SIDECAR_CONCURRENCY=str(self.scenario.slots), SIDECAR_PORT=str(port), SIDECAR_HOST="127.0.0.1",
                       PYTHONPATH=os.path.join(ROOT, "sidecar"))
            env.update(self.extra_env())
            self.sidecars.append(Host("sidecar", f"sidecar-{i + 1}", port, [PYTHON, "-m", "firstsip_sidecar"], env,
                                      os.path.join(self.folder, f"sidecar-{i + 1}.log"), cwd=ROOT))

    def start_hosts(self) -> None:
        for web in self.webs:  # one at a time: the first applies the migrations
            web.start(120)
        for sidecar in self.sidecars:
            sidecar.start(60)

    # ----- load
    def schedule(self) -> List[float]:
        if self.scenario.burst:
            return [0.0] * self.runs
        capacity = self.scenario.sidecars * self.scenario.slots / self.seconds  # runs per second
        interval = 1.0 / (capacity * 0.8)
        return [i * interval for i in range(self.runs)]

    def post(self, n: int) -> None:
        body = {"plugin": PLUGIN, "user_id": "soak", "idempotency_key": f"soak-{n}",
                "settings": {"seconds": self.seconds, "journal": self.journal, "label": f"soak #{n}"}}
        give_up = time.time() + 20
        last = ""
        tries = 0
        while not self._stop_posting.is_set():
            web = self.webs[(n + tries) % len(self.webs)]
            tries += 1
            status, answer = http_call("POST", web.url + "/api/runs", body, timeout=10)
            if status == 201:
                run = json.loads(answer)
                with self._lock:
                    self.posted.append({"n": n, "id": str(run["run_id"]).lower(), "at": time.time(),
                                        "host": web.name, "tries": tries})
                return
            last = f"{web.name}: {status or 'no answer'} {answer[:200].decode(errors='replace')}"
            if status == 400 or time.time() > give_up:
                break
            time.sleep(0.5)
        with self._lock:
            self.rejected.append({"n": n, "at": time.time(), "error": last})

    def poster(self, offsets: List[float]) -> None:
        for n, offset in enumerate(offsets):
            if self._stop_posting.is_set():
                return
            while time.time() < self.t0 + offset and not self._stop_posting.is_set():
                time.sleep(min(0.05, max(self.t0 + offset - time.time(), 0.001)))
            self.post(n)

    def post_all(self) -> threading.Thread:
        offsets = self.schedule()
        self.post_window = offsets[-1] if offsets else 0.0
        if self.scenario.burst:
            # A burst goes out from four threads at once, so the queue fills before the workers drain it.
            def burst() -> None:
                threads = [threading.Thread(target=lambda k=k: [self.post(n) for n in range(k, self.runs, 4)], daemon=True)
                           for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            thread = threading.Thread(target=burst, daemon=True)
        else:
            thread = threading.Thread(target=self.poster, args=(offsets,), daemon=True)
        thread.start()
        return thread

    # ----- waiting
    def run_ids(self) -> List[str]:
        with self._lock:
            return [p["id"] for p in self.posted]

    def unfinished(self) -> Optional[int]:
        try:
            text = self.pg.sql("select count(*) from plugin_runs where status not in "
                               "('completed','failed','timed_out','cancelled')", timeout=10)
            return int(text or 0)
        except (HarnessError, ValueError):
            return None

    def settle(self, limit: float) -> bool:
        """Waits until every run in the table is terminal, at most ``limit`` seconds."""
        end = time.time() + limit
        last_report = 0.0
        while time.time() < end:
            left = self.unfinished()
            if left == 0:
                return True
            if time.time() - last_report > 15:
                last_report = time.time()
                note(f"+{self.rel(time.time()):6.1f} s  {'?' if left is None else left} run(s) not terminal yet")
            reap_orphans()
            time.sleep(1.0)
        return False

    def _group_idle(self, stream: str, group_name: str) -> bool:
        try:
            for group in self.redis.client().xinfo_groups(stream):
                if group["name"] in (group_name.encode(), group_name):
                    lag = group.get("lag")
                    return int(group["pending"]) == 0 and (lag is None or int(lag) == 0)
        except Exception:
            pass  # no stream or no group: nothing left to read
        return True

    def drain(self, limit: float) -> bool:
        """Waits until nothing is left in flight: no pending or unread request (the sidecars) or result (the
        app), and a quiet journal. A late result or a late execution is then counted too."""
        end = time.time() + limit
        while time.time() < end:
            quiet = not os.path.exists(self.journal) or time.time() - os.path.getmtime(self.journal) > 2.0
            if quiet and self._group_idle("plugin:requests", "crewai-workers") \
                    and self._group_idle("plugin:results", "app-workers"):
                return True
            reap_orphans()
            time.sleep(0.5)
        return False

    def redis_facts(self) -> Dict[str, Any]:
        facts: Dict[str, Any] = {}
        try:
            client = self.redis.client()
            for stream in ("plugin:requests:dead", "plugin:results:dead"):
                facts[f"{stream} entries"] = int(client.xlen(stream))
            for stream in APP_GROUP_STREAMS:
                try:
                    for group in client.xinfo_groups(stream):
                        name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
                        facts[f"{stream} {name} pending"] = int(group["pending"])
                except Exception:
                    pass
        except Exception as error:
            facts["error"] = str(error)
        return facts


# --------------------------------------------------------------------------- faults

def fault_sidecar_kill(ctx: Context) -> None:
    """SIGKILL sidecar-1 (the process only) a few times while runs execute; restart it each time."""
    fractions = [0.5] if ctx.quick else [0.2, 0.45, 0.7]
    target = ctx.sidecars[0]
    for fraction in fractions:
        ctx.at(max(ctx.seconds * 1.5, ctx.post_window * fraction))
        record = ctx.fault("sidecar SIGKILL", target.name, target.proc.pid)
        target.proc.sigkill()
        time.sleep(1.0)
        target.start(60)
        record["restarted_pid"] = target.proc.pid
        ctx.restored(record)


def _redis_outage(ctx: Context, empty: bool) -> None:
    fractions = [0.5] if ctx.quick else [0.3, 0.65]
    kind = "Redis SIGKILL, restart empty" if empty else "Redis SIGKILL, restart from AOF"
    for fraction in fractions:
        ctx.at(max(ctx.seconds * 1.5, ctx.post_window * fraction))
        record = ctx.fault(kind, "redis", ctx.redis.proc.pid)
        ctx.redis.proc.sigkill()
        if empty:
            ctx.redis.wipe()
        time.sleep(2.0)
        ctx.redis.start()
        ctx.restored(record)


def fault_redis_kill(ctx: Context) -> None:
    """SIGKILL redis-server (append-only file, fsync every second) and restart it from that file."""
    _redis_outage(ctx, empty=False)


def fault_redis_empty(ctx: Context) -> None:
    """SIGKILL redis-server (no persistence) and restart it empty: every stream, group and key is gone."""
    _redis_outage(ctx, empty=True)


def fault_app_kill(ctx: Context) -> None:
    """SIGKILL web-1 (one of two replicas on one database) while runs flow; restart it."""
    fractions = [0.5] if ctx.quick else [0.3, 0.65]
    target = ctx.webs[0]
    for fraction in fractions:
        ctx.at(max(ctx.seconds * 1.5, ctx.post_window * fraction))
        record = ctx.fault("app SIGKILL", target.name, target.proc.pid)
        target.proc.sigkill()
        time.sleep(2.0)
        target.start(120)
        ctx.restored(record)


def fault_pg_stop(ctx: Context) -> None:
    """Stops PostgreSQL (immediate mode, like a crash) while results arrive; starts it a minute later."""
    down = ctx.options.pg_down or (20.0 if ctx.quick else 60.0)
    ctx.at(ctx.seconds * 2)
    record = ctx.fault("PostgreSQL stop -m immediate", "postgres", ctx.pg.proc.pid if ctx.pg.proc else None, down=down)
    ctx.pg.stop_immediate()
    sleep_until(record["at"] + down)
    ctx.pg.start()
    ctx.restored(record)


SCENARIOS: Dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("backlog", "a queue several times longer than the plugin's timeout, every setting at its default: "
                 "all runs posted at once to one sidecar with 2 slots",
                 runs=50, quick_runs=16, seconds=2.5, sidecars=1, slots=2, burst=True),
        Scenario("sidecar-kill", "two sidecars; sidecar-1 SIGKILLed (the process only) mid-load and restarted",
                 runs=40, quick_runs=12, seconds=3.0, sidecars=2, slots=2, fault=fault_sidecar_kill),
        Scenario("redis-kill", "Redis with an append-only file (fsync every second) SIGKILLed mid-load and "
                 "restarted from that file", runs=30, quick_runs=12, seconds=2.5, sidecars=2, slots=2,
                 appendonly=True, fault=fault_redis_kill),
        Scenario("redis-empty", "Redis without persistence SIGKILLed mid-load and restarted empty (every stream, "
                 "group and key gone)", runs=30, quick_runs=12, seconds=2.5, sidecars=2, slots=2,
                 fault=fault_redis_empty),
        Scenario("app-kill", "two web host replicas on one PostgreSQL database; web-1 SIGKILLed mid-load and "
                 "restarted", runs=40, quick_runs=12, seconds=2.5, sidecars=2, slots=2, replicas=2,
                 fault=fault_app_kill),
        Scenario("pg-stop", "PostgreSQL stopped (immediate mode) for about a minute while results arrive, then "
                 "started again", runs=24, quick_runs=10, seconds=2.5, sidecars=2, slots=2, burst=True,
                 fault=fault_pg_stop),
    )
}


# --------------------------------------------------------------------------- counting

def read_journal(path: str) -> Dict[str, List[Dict[str, Any]]]:
    """Executions per run id: start, attempt, pid, ppid, last line time, end time."""
    executions: Dict[str, Dict[str, Any]] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                execution = executions.setdefault(entry.get("exec", "?"), {
                    "exec": entry.get("exec"), "run": entry.get("run"), "start": None, "attempt": None,
                    "pid": None, "ppid": None, "last": entry["at"], "end": None, "ticks": 0})
                execution["last"] = max(execution["last"], entry["at"])
                if entry["kind"] == "start":
                    execution.update(start=entry["at"], attempt=entry.get("attempt"), pid=entry.get("pid"),
                                     ppid=entry.get("ppid"))
                elif entry["kind"] == "tick":
                    execution["ticks"] += 1
                elif entry["kind"] == "end":
                    execution["end"] = entry["at"]
    runs: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for execution in executions.values():
        if execution["start"] is None:
            execution["start"] = execution["last"]
        runs[str(execution["run"]).lower()].append(execution)
    for items in runs.values():
        items.sort(key=lambda e: e["start"])
    return runs


def explain(ctx: Context, previous: Dict[str, Any], current: Dict[str, Any], row: Optional[Dict[str, Any]]) -> Tuple[str, str]:
    """Why an execution happened again: (cause, detail)."""
    cause = None
    detail = []
    for fault in ctx.faults:
        if fault["kind"] == "sidecar SIGKILL" and fault["pid"] == previous["ppid"] and previous["start"] <= fault["at"] + 0.5:
            if previous["end"] is not None and previous["end"] <= fault["at"]:
                cause = "worker killed after the plugin finished (result never published)"
            elif previous["end"] is not None:
                cause = "worker killed just before the plugin finished (it finished orphaned, no result)"
            else:
                cause = "worker killed mid-run"
            after = previous["last"] - fault["at"]
            detail.append(f"{fault['target']} (pid {fault['pid']}) SIGKILLed at +{ctx.rel(fault['at'])} s; the earlier "
                          f"execution's last line {after:+.1f} s from the kill")
            break
    if cause is None:
        for fault in ctx.faults:
            back = fault["back_at"] or fault["at"]
            if previous["start"] <= back + 1.0 and current["start"] >= fault["at"]:
                cause = {
                    "Redis SIGKILL, restart from AOF": "Redis killed and restarted from its AOF between the executions",
                    "Redis SIGKILL, restart empty": "Redis restarted empty between the executions",
                    "app SIGKILL": "an app replica was killed between the executions",
                    "PostgreSQL stop -m immediate": "PostgreSQL was down between the executions",
                    "sidecar SIGKILL": "a sidecar was killed between the executions (not the one that ran it)",
                }.get(fault["kind"], fault["kind"])
                detail.append(f"{fault['kind']} at +{ctx.rel(fault['at'])} s, back at +{ctx.rel(fault['back_at'])} s")
                break
    a, b = previous.get("attempt"), current.get("attempt")
    if cause is None:
        if a is not None and b is not None and b > a:
            cause = "the app dispatched the run again, no fault in between"
        else:
            cause = "delivered again (same attempt), no fault in between"
    detail.append(f"attempt {a} -> {b}" if a != b else f"same attempt {a}")
    if previous["end"] is not None:
        detail.append("the earlier execution had finished")
    if current["start"] < previous["last"]:
        detail.append(f"started {previous['last'] - current['start']:.1f} s before the earlier execution's last line")
    if row and row["status"] != "completed" and row.get("ended") and current["start"] > row["ended"]:
        detail.append(f"started {current['start'] - row['ended']:.1f} s after the app ended the run as {row['status']}")
    return cause, "; ".join(detail)


def why_not_completed(ctx: Context, executions: List[Dict[str, Any]], row: Dict[str, Any]) -> str:
    """A short cause for a run that ended other than completed, from its journal and the faults."""
    if not executions:
        return "never executed"
    last = executions[-1]
    for fault in ctx.faults:
        if fault["kind"] == "sidecar SIGKILL" and fault["pid"] == last["ppid"] and last["start"] <= fault["at"] + 0.5:
            if last["end"] is not None and last["end"] <= fault["at"]:
                return "finished, but its worker was SIGKILLed before publishing the result"
            if last["end"] is not None:
                return "finished just after its worker was SIGKILLed (orphaned); no result published"
            return "its execution died with its SIGKILLed worker"
    if last["end"] is None:
        return "its execution was stopped before it finished"
    if row.get("ended") is not None and row["ended"] < last["end"]:
        return "finished after the app had ended the run"
    ended = row.get("ended") or last["end"]
    for fault in ctx.faults:
        back = fault["back_at"] or ended
        if fault["kind"] == "sidecar SIGKILL":
            continue
        if fault["at"] - 3.0 <= last["end"] <= back + 1.0:
            return f"finished, but the result was not applied ({fault['kind']} at +{ctx.rel(fault['at'])} s)"
    return "finished, but the result was not applied"


def count(ctx: Context, settled: bool, drained: bool, started_at: float) -> Dict[str, Any]:
    rows = ctx.pg.json(
        "select coalesce(json_agg(json_build_object('id', lower(run_id::text), 'status', status, 'error', error, "
        "'attempt', attempt, 'settings', settings, 'created', extract(epoch from created_at), "
        "'dispatched', extract(epoch from dispatched_at), 'started', extract(epoch from started_at), "
        "'ended', extract(epoch from completed_at))), '[]'::json) from plugin_runs") or []
    briefings = ctx.pg.json(
        "select coalesce(json_object_agg(run_id, n), '{}'::json) from "
        "(select lower(\"RunId\"::text) as run_id, count(*) as n from briefings group by 1) b") or {}
    by_id = {r["id"]: r for r in rows}
    posted = {p["id"]: p for p in ctx.posted}
    journal = read_journal(ctx.journal)

    statuses = Counter()
    reasons: Dict[str, Counter] = defaultdict(Counter)
    lost = []
    for run_id, post in sorted(posted.items(), key=lambda kv: kv[1]["n"]):
        row = by_id.get(run_id)
        if row is None or row["status"] not in TERMINAL:
            lost.append({"run": run_id, "n": post["n"], "status": row["status"] if row else "missing"})
            continue
        statuses[row["status"]] += 1
        if row["status"] != "completed":
            reasons[row["status"]][row["error"] or "(no error text)"] += 1

    more_than_once, ended_more_than_once, concurrent, never, after_gave_up, discarded = [], [], [], [], [], []
    running_at_give_up, cut_short = [], 0
    not_completed = Counter()
    outlived = []
    extra = []
    for run_id in posted:
        executions = journal.get(run_id, [])
        row = by_id.get(run_id)
        if not executions:
            never.append(run_id)
        if len(executions) > 1:
            more_than_once.append(run_id)
        if sum(1 for e in executions if e["end"] is not None) > 1:
            ended_more_than_once.append(run_id)
        overlap = any(b["start"] < a["last"] for i, a in enumerate(executions) for b in executions[i + 1:])
        if overlap:
            concurrent.append(run_id)
        if row and row["status"] in TERMINAL and row["status"] != "completed":
            not_completed[f"{row['status']}: {why_not_completed(ctx, executions, row)}"] += 1
        if row and row["status"] in TERMINAL and row["status"] != "completed" and row.get("ended") is not None:
            if any(e["start"] > row["ended"] for e in executions):
                after_gave_up.append(run_id)
            if any(e["end"] is not None for e in executions):
                discarded.append(run_id)
            if any(e["start"] <= row["ended"] <= e["last"] + 0.3 for e in executions):
                running_at_give_up.append(run_id)
        cut_short += sum(1 for e in executions if e["end"] is None)
        for k in range(1, len(executions)):
            cause, detail = explain(ctx, executions[k - 1], executions[k], row)
            extra.append({"run": run_id, "n": posted[run_id]["n"], "execution": k + 1, "cause": cause, "detail": detail})
        for execution in executions:
            for fault in ctx.faults:
                if fault["kind"] == "sidecar SIGKILL" and fault["pid"] == execution["ppid"] and execution["last"] > fault["at"] + 1.0:
                    outlived.append({"run": run_id, "seconds": round(execution["last"] - fault["at"], 2)})

    duplicated = {run: n for run, n in briefings.items() if n > 1}
    completed_ids = {r["id"] for r in rows if r["status"] == "completed"}
    without_effect = sorted(i for i in completed_ids if briefings.get(i, 0) == 0)
    effect_not_completed = sorted(i for i in briefings if i not in completed_ids)
    unknown_rows = sorted(i for i in by_id if i not in posted)

    figures = {
        "scenario": ctx.scenario.name,
        "what": ctx.scenario.summary,
        "config": {"runs": ctx.runs, "seconds": ctx.seconds, "sidecars": ctx.scenario.sidecars,
                   "slots_per_sidecar": ctx.scenario.slots, "web_replicas": ctx.scenario.replicas,
                   "plugin_timeout_seconds": plugin_timeout(), "posting": "burst" if ctx.scenario.burst else
                   f"paced over {ctx.post_window:.0f} s", "extra_env": ctx.extra_env()},
        "duration_seconds": round(time.time() - started_at, 1),
        "settled": settled,
        "drained": drained,
        "started": len(posted),
        "rejected_at_start": len(ctx.rejected),
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "timed_out": statuses["timed_out"],
        "cancelled": statuses["cancelled"],
        "reasons": {status: dict(counter.most_common()) for status, counter in reasons.items()},
        "lost": len(lost),
        "executed_more_than_once": len(more_than_once),
        "ended_more_than_once": len(ended_more_than_once),
        "executed_concurrently": len(concurrent),
        "effects_duplicated": len(duplicated),
        "never_executed": len(never),
        "executed_after_app_gave_up": len(after_gave_up),
        "running_when_app_gave_up": len(running_at_give_up),
        "finished_work_discarded": len(discarded),
        "completed_without_effect": len(without_effect),
        "effect_without_completion": len(effect_not_completed),
        "executions": sum(len(journal.get(i, [])) for i in posted),
        "executions_cut_short": cut_short,
        "executions_outliving_killed_worker": len(outlived),
        "unknown_rows": len(unknown_rows),
        "not_completed_causes": dict(not_completed.most_common()),
        "extra_execution_causes": dict(Counter(e["cause"] for e in extra).most_common()),
        "details": {
            "lost": lost,
            "rejected_at_start": ctx.rejected,
            "extra_executions": extra,
            "concurrent": concurrent,
            "effects_duplicated": duplicated,
            "executed_after_app_gave_up": after_gave_up,
            "running_when_app_gave_up": running_at_give_up,
            "outliving_killed_worker": outlived,
            "completed_without_effect": without_effect,
            "unknown_rows": unknown_rows,
            "faults": [dict(f, at=ctx.rel(f["at"]), back_at=ctx.rel(f["back_at"])) for f in ctx.faults],
            "redis": ctx.redis_facts(),
        },
    }
    misses = []
    if figures["completed"] < figures["started"]:
        misses.append(f"{figures['started'] - figures['completed']} of {figures['started']} runs did not complete")
    if figures["lost"]:
        misses.append(f"{figures['lost']} lost")
    if figures["executed_concurrently"]:
        misses.append(f"{figures['executed_concurrently']} executed twice at once")
    if figures["effects_duplicated"]:
        misses.append(f"{figures['effects_duplicated']} effects duplicated")
    if figures["rejected_at_start"]:
        misses.append(f"{figures['rejected_at_start']} starts rejected")
    figures["misses"] = misses
    figures["passed"] = not misses
    return figures


def plugin_timeout() -> Optional[int]:
    try:
        with open(os.path.join(PLUGIN_DIR, PLUGIN, "plugin.yaml"), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("timeout_seconds:"):
                    return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


# --------------------------------------------------------------------------- one scenario

def run_scenario(scenario: Scenario, options: argparse.Namespace, dll: str, folder: str) -> Dict[str, Any]:
    os.makedirs(folder, exist_ok=True)
    ctx = Context(scenario, options, dll, folder)
    started_at = time.time()
    say(f"{scenario.name}: {scenario.summary}")
    note(f"{ctx.runs} runs of {ctx.seconds:g} s, {scenario.sidecars} sidecar(s) x {scenario.slots} slots, "
         f"{scenario.replicas} web host(s); logs in {os.path.relpath(folder, ROOT)}")
    if ctx.extra_env():
        note("with " + " ".join(f"{k}={v}" for k, v in ctx.extra_env().items()))
    try:
        ctx.start_servers()
        ctx.make_hosts()
        ctx.start_hosts()
        ctx.t0 = time.time()
        poster = ctx.post_all()
        if scenario.fault is not None:
            scenario.fault(ctx)
        poster.join(timeout=ctx.post_window + 120)
        ctx._stop_posting.set()
        note(f"+{ctx.rel(time.time()):6.1f} s  {len(ctx.posted)} run(s) started, {len(ctx.rejected)} rejected; settling "
             f"(at most {options.settle:g} s)")
        settled = ctx.settle(options.settle)
        note(f"+{ctx.rel(time.time()):6.1f} s  {'every run is terminal' if settled else 'settle limit passed'}; "
             f"waiting for requests and results in flight (at most {options.drain:g} s)")
        drained = ctx.drain(options.drain)
        figures = count(ctx, settled, drained, started_at)
    except HarnessError as error:
        note(f"{scenario.name} could not run: {error}")
        figures = {"scenario": scenario.name, "what": scenario.summary, "error": str(error), "passed": False,
                   "misses": [f"harness error: {error}"], "duration_seconds": round(time.time() - started_at, 1)}
    finally:
        ctx._stop_posting.set()
        left = stop_everything()
        if left:
            note(f"killed {len(left)} left-over process(es): {left}")
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    with open(os.path.join(folder, "figures.json"), "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)
    print_scenario(figures)
    return figures


# --------------------------------------------------------------------------- output

COLUMNS = [
    ("scenario", "scenario"), ("started", "started"), ("completed", "done"), ("failed", "failed"),
    ("timed_out", "t/out"), ("lost", "lost"), ("never_executed", "never ran"), ("executed_more_than_once", ">1 start"),
    ("ended_more_than_once", ">1 end"), ("executed_concurrently", "at once"), ("effects_duplicated", "dup effect"),
    ("executed_after_app_gave_up", "after give-up"), ("finished_work_discarded", "work discarded"),
    ("duration_seconds", "secs"),
]


def print_scenario(f: Dict[str, Any]) -> None:
    if "error" in f:
        print(f"\n{f['scenario']}: NOT RUN: {f['error']}")
        return
    verdict = "target met" if f["passed"] else "TARGET MISSED: " + "; ".join(f["misses"])
    print(f"\n{f['scenario']}: {verdict}")
    print(f"  started {f['started']}, completed {f['completed']}, failed {f['failed']}, timed out {f['timed_out']}, "
          f"cancelled {f['cancelled']}, lost {f['lost']}, rejected at start {f['rejected_at_start']}")
    print(f"  executions {f['executions']}: runs executed more than once {f['executed_more_than_once']} "
          f"(more than one end {f['ended_more_than_once']}), twice at once {f['executed_concurrently']}, "
          f"never executed {f['never_executed']}, cut short (no end line) {f['executions_cut_short']}")
    print(f"  after the app gave up: started {f['executed_after_app_gave_up']}, still running "
          f"{f['running_when_app_gave_up']}; runs not completed although an execution finished "
          f"{f['finished_work_discarded']}")
    print(f"  effects: duplicated {f['effects_duplicated']}, completed without a briefing {f['completed_without_effect']}, "
          f"briefing without completion {f['effect_without_completion']}; unknown rows {f['unknown_rows']}")
    if f["executions_outliving_killed_worker"]:
        longest = max(o["seconds"] for o in f["details"]["outliving_killed_worker"])
        print(f"  executions that went on > 1 s after their worker was SIGKILLed: {f['executions_outliving_killed_worker']} "
              f"(longest {longest} s)")
    for status, reasons in f["reasons"].items():
        for reason, n in reasons.items():
            print(f"  {status:9} {n:4}  {reason}")
    for cause, n in f["not_completed_causes"].items():
        print(f"  not completed {n:4}  {cause}")
    for cause, n in f["extra_execution_causes"].items():
        print(f"  extra execution {n:4}  {cause}")
    for item in f["details"]["lost"][:10]:
        print(f"  lost: run #{item['n']} {item['run']} ({item['status']})")
    if not f["settled"]:
        print("  (the settle limit passed before every run was terminal)")
    if not f["drained"]:
        print("  (requests or results were still in flight at the end: see redis below)")
    print(f"  redis at the end: {f['details']['redis']}")


def print_table(all_figures: List[Dict[str, Any]]) -> None:
    rows = [[h for _, h in COLUMNS] + ["target"]]
    for f in all_figures:
        rows.append([str(f.get(k, "")) for k, _ in COLUMNS] + ["met" if f["passed"] else "MISSED"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------- main

def parse(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./run soak", description="FirstSip fault harness (see tests/soak/README.md).")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        help=f"all (default) or one of: {', '.join(SCENARIOS)}; repeat for several")
    parser.add_argument("--runs", type=int, help="runs per scenario (default: the scenario's own)")
    parser.add_argument("--seconds", type=float, help="how long each run works (default: the scenario's own)")
    parser.add_argument("--quick", action="store_true", help="fewer runs, one fault, shorter outage: a smoke check")
    parser.add_argument("--settle", type=float, help="seconds to wait for every run to be terminal after the load "
                        "and faults (default 150, quick 90)")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds to wait, once every run is terminal, for "
                        "the requests and results still in flight (90: more than the 60 s claim timeouts)")
    parser.add_argument("--pg-down", type=float, help="seconds PostgreSQL stays down in pg-stop (60, quick 20)")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="an environment variable for every web host and sidecar, e.g. FirstSip__Runs__StartTimeout=00:00:30")
    parser.add_argument("--no-build", action="store_true", help="use the web host as last built")
    parser.add_argument("--out", default=os.path.join(ROOT, ".run", "soak"), help="where logs and figures go")
    options = parser.parse_args(argv)
    names = []
    for item in options.scenario or ["all"]:
        for name in item.split(","):
            if name == "all":
                names.extend(SCENARIOS)
            elif name in SCENARIOS:
                names.append(name)
            else:
                parser.error(f"unknown scenario {name!r}; one of: all, {', '.join(SCENARIOS)}")
    options.names = list(dict.fromkeys(names))
    if options.settle is None:
        options.settle = 90.0 if options.quick else 150.0
    return options


def main(argv: List[str]) -> int:
    options = parse(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    become_subreaper()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = os.path.join(options.out, stamp)
    os.makedirs(folder, exist_ok=True)
    results: List[Dict[str, Any]] = []
    code = 0
    try:
        if options.no_build:
            dll = web_host_dll()
        else:
            say("building the web host")
            dll = build_web_host()
        for name in options.names:
            results.append(run_scenario(SCENARIOS[name], options, dll, os.path.join(folder, name)))
        code = 0 if all(f["passed"] for f in results) else 1
    except Interrupted as signame:
        print(f"\ninterrupted ({signame}); every process the harness started is stopped", file=sys.stderr)
        code = 130
    except HarnessError as error:
        print(f"\nsoak: {error}", file=sys.stderr)
        code = 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_everything()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if results:
        summary = {"stamp": stamp, "quick": options.quick, "passed": code == 0, "scenarios": results}
        path = os.path.join(folder, "summary.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
        shutil.copyfile(path, os.path.join(options.out, "latest.json"))
        print_table(results)
        print(f"\nfigures: {os.path.relpath(path, ROOT)}; logs: {os.path.relpath(folder, ROOT)}/<scenario>/")
        missed = [f["scenario"] for f in results if not f["passed"]]
        print("every target met" if not missed else f"targets missed in: {', '.join(missed)}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
