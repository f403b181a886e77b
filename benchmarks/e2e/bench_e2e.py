"""`./run bench-e2e`: no-op runs end to end through FirstSip (SQLite, then PostgreSQL) and the same workload on Celery.

Everything runs on private servers started here: a redis-server, a throw-away PostgreSQL cluster, one sidecar
(SIDECAR_CONCURRENCY slots) and, for the peer, a Celery prefork worker of the same size on the same Redis
(broker and result backend). The .NET host (benchmarks/FirstSip.Benchmarks.EndToEnd) posts runs through
IPluginRunner from --callers concurrent callers. Printed: runs/s end to end, start-to-completed p50/p99 at idle,
CPU per run of the sidecar (its own process and its pool processes), of the Celery worker (main and pool
processes) and of the servers (Redis; PostgreSQL with its backends), and the ratios FirstSip / Celery. Figures also go to .run/bench-e2e/latest.json.
Only ratios measured in one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "benchmarks", "e2e")
PYTHON = "/usr/bin/python3"
HOST_DLL = os.path.join(ROOT, "benchmarks", "FirstSip.Benchmarks.EndToEnd", "bin", "Release", "net10.0",
                        "FirstSip.Benchmarks.EndToEnd.dll")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU of one live process (0 when it is gone); with ``reaped``, also that of its children that
    exited and were waited for (the pool processes a sidecar replaced)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])
        return (own + (int(fields[13]) + int(fields[14]) if reaped else 0)) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> List[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(value) for value in out.split()]


def wait_until(what: str, check, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"bench-e2e: {what} did not happen within {timeout:g} s")
        time.sleep(0.1)


class Processes:
    def __init__(self, logs: str) -> None:
        self.logs = logs
        self.started: List[subprocess.Popen] = []

    def start(self, name: str, argv: List[str], **kwargs) -> subprocess.Popen:
        log = open(os.path.join(self.logs, f"{name}.log"), "ab")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


def pg_bindir() -> str:
    return os.environ.get("FIRSTSIP_PG_BIN") or sorted(
        os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql"))[-1]


def start_postgres(procs: Processes, work: str, statements: bool) -> Tuple[str, subprocess.Popen]:
    bindir = pg_bindir()
    data = os.path.join(work, "pg")
    user = "postgres" if os.geteuid() == 0 else None
    os.makedirs(data)
    os.chmod(work, 0o755)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(work, entry.pw_uid, entry.pw_gid)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    run_as = {"user": user, "group": user, "extra_groups": []} if user else {}
    subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-locale", "--no-sync"], check=True, capture_output=True, cwd=work, **run_as)
    port = free_port()
    # The soak harness's settings: fsync off, synchronous_commit on.
    server = procs.start("postgres", [os.path.join(bindir, "postgres"), "-D", data, "-p", str(port), "-k", work,
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
                             "-c", "max_connections=200"]
                      + (["-c", "shared_preload_libraries=pg_stat_statements"] if statements else []), cwd=work, **run_as)

    def answers() -> bool:
        return subprocess.run([os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                               "-c", "select 1"], capture_output=True).returncode == 0

    wait_until("PostgreSQL to answer", answers)
    subprocess.run([os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                    "create database bench"], check=True, capture_output=True)
    if statements:
        subprocess.run([os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "bench",
                        "-c", "create extension pg_stat_statements"], check=True, capture_output=True)
    return f"Host=127.0.0.1;Port={port};Database=bench;Username=postgres", server


def write_statements(connection: str, path: str) -> None:
    """Writes pg_stat_statements (calls, rows, execution time: what each statement cost the server) to ``path``."""
    port = connection.split("Port=")[1].split(";")[0]
    query = ("select calls, rows, round(total_exec_time::numeric, 1) as exec_ms, "
             "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) as statement "
             "from pg_stat_statements order by total_exec_time desc limit 40")
    with open(path, "w", encoding="utf-8") as out:
        subprocess.run([os.path.join(pg_bindir(), "psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "bench", "-c", query],
                       stdout=out, stderr=subprocess.STDOUT)


def start_sidecar(procs: Processes, redis_port: int, concurrency: int, extra: List[str],
                  folder: str = os.path.join(ROOT, "sidecar")) -> subprocess.Popen:
    """Starts a sidecar on the benchmark's plugins (``extra``: NAME=VALUE variables) and waits until it is ready.

    :param folder: the sidecar folder to run (another checkout's, to compare versions).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "FIRSTSIP_"))}
    env.update(REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", PLUGIN_DIR=os.path.join(HERE, "plugins"),
               PYTHONPATH=folder, SIDECAR_PORT=str(port), SIDECAR_CONCURRENCY=str(concurrency),
               SIDECAR_LOG_LEVEL="WARNING")
    for item in extra:
        name, _, value = item.partition("=")
        env[name] = value
    sidecar = procs.start("sidecar", [PYTHON, "-m", "firstsip_sidecar"], env=env, cwd=folder)

    def ready() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1).status == 200
        except OSError:
            return False

    wait_until("the sidecar to be ready", ready)
    return sidecar


def sidecar_cpu(pid: int) -> Dict[str, float]:
    """The sidecar's own CPU, and its children's: the live ones' and that of those it replaced (and waited for)."""
    return {"worker": cpu_seconds(pid),
            "pool": cpu_seconds(pid, reaped=True) - cpu_seconds(pid) + sum(cpu_seconds(p) for p in children(pid))}


def tree_cpu(pid: int) -> float:
    """A server's CPU with its children's, live and exited (PostgreSQL's backends)."""
    return cpu_seconds(pid, reaped=True) + sum(cpu_seconds(p) for p in children(pid))


def servers_cpu(servers: Dict[str, int]) -> Dict[str, float]:
    return {name: tree_cpu(pid) for name, pid in servers.items()}


def run_host(args, redis: str, db: str, connection: str, sidecar_pid: int, logs: str, servers: Dict[str, int]) -> Dict:
    before = sidecar_cpu(sidecar_pid)
    servers_before = servers_cpu(servers)
    argv = ["dotnet", HOST_DLL, "--redis", redis, "--db", db, "--connection", connection,
            "--plugins", os.path.join(HERE, "plugins"), "--runs", str(args.runs), "--callers", str(args.callers),
            "--idle", str(args.idle), "--warmup", str(args.warmup)]
    with open(os.path.join(logs, f"host-{db}.log"), "ab") as log:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, timeout=1800)
    after = sidecar_cpu(sidecar_pid)
    servers_after = servers_cpu(servers)
    lines = [line for line in out.stdout.decode().splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"bench-e2e: the .NET host failed ({db}); see {logs}/host-{db}.log")
    figures = json.loads(lines[-1])
    worker = after["worker"] - before["worker"]
    pool = after["pool"] - before["pool"]
    figures["cpu_ms_per_run_worker"] = round(worker * 1000 / figures["all_runs"], 3)
    figures["cpu_ms_per_run_with_pool"] = round((worker + pool) * 1000 / figures["all_runs"], 3)
    for name in servers:
        figures[f"{name}_cpu_ms_per_run"] = round((servers_after[name] - servers_before[name]) * 1000 / figures["all_runs"], 3)
    return figures


def run_celery(args, redis_url: str, redis_pid: int, procs: Processes, logs: str) -> Dict:
    env = dict(os.environ, BENCH_REDIS_URL=redis_url, PYTHONPATH=HERE)
    worker = procs.start("celery", [PYTHON, "-m", "celery", "-A", "celery_peer", "worker", "--pool=prefork",
                                    f"--concurrency={args.concurrency}", "-l", "WARNING", "--without-gossip",
                                    "--without-mingle", "--without-heartbeat"], env=env, cwd=HERE)
    wait_until("the Celery pool to start", lambda: len(children(worker.pid)) >= args.concurrency)
    time.sleep(1.0)  # let the pool processes finish importing before the clock starts

    def total() -> float:
        return cpu_seconds(worker.pid, reaped=True) + sum(cpu_seconds(p) for p in children(worker.pid))

    before = total()
    redis_before = tree_cpu(redis_pid)
    out = subprocess.run([PYTHON, os.path.join(HERE, "celery_peer.py"), "--runs", str(args.runs), "--callers",
                          str(args.callers), "--idle", str(args.idle), "--warmup", str(args.warmup)],
                         env=env, cwd=HERE, stdout=subprocess.PIPE, stderr=open(os.path.join(logs, "celery-client.log"), "ab"),
                         timeout=1800)
    after = total()
    redis_after = tree_cpu(redis_pid)
    procs.stop(worker)
    lines = [line for line in out.stdout.decode().splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"bench-e2e: the Celery client failed; see {logs}/celery-client.log")
    figures = json.loads(lines[-1])
    figures["cpu_ms_per_run_with_pool"] = round((after - before) * 1000 / figures["all_runs"], 3)
    figures["redis_cpu_ms_per_run"] = round((redis_after - redis_before) * 1000 / figures["all_runs"], 3)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs under load per system (default 2000)")
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers (default 8)")
    parser.add_argument("--idle", type=int, default=200, help="runs posted one at a time for the idle latency (default 200)")
    parser.add_argument("--warmup", type=int, default=1000,
                        help="runs per warm-up round posted under load before measuring; the .NET host repeats rounds "
                             "until the JIT is quiet, Celery runs one (default 1000)")
    parser.add_argument("--concurrency", type=int, default=2, help="sidecar slots and Celery pool size (default 2)")
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "postgres", "celery"])
    parser.add_argument("--pg-statements", action="store_true",
                        help="load pg_stat_statements and write what each statement cost to postgres-statements.txt")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an extra sidecar variable")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = os.path.join(ROOT, ".run", "bench-e2e", stamp)
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix="firstsip-bench-")
    os.chmod(work, 0o755)  # the PostgreSQL cluster runs as user postgres
    procs = Processes(logs)
    results: Dict[str, Dict] = {}
    try:
        redis_port = free_port()
        redis_server = procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"])
        wait_until("redis to answer", lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"],
                                                             capture_output=True).returncode == 0)
        sidecar = start_sidecar(procs, redis_port, args.concurrency, args.set)
        redis = f"127.0.0.1:{redis_port}"
        if "sqlite" not in args.skip:
            print("==> FirstSip, SQLite history", file=sys.stderr, flush=True)
            results["sqlite"] = run_host(args, redis, "sqlite", f"Data Source={os.path.join(work, 'bench.db')}",
                                         sidecar.pid, logs, {"redis": redis_server.pid})
            print(json.dumps(results["sqlite"]), file=sys.stderr, flush=True)
        if "postgres" not in args.skip:
            print("==> FirstSip, PostgreSQL history", file=sys.stderr, flush=True)
            connection, postgres = start_postgres(procs, os.path.join(work, "pgwork"), args.pg_statements)
            results["postgres"] = run_host(args, redis, "postgres", connection, sidecar.pid, logs,
                                           {"redis": redis_server.pid, "postgres": postgres.pid})
            if args.pg_statements:
                write_statements(connection, os.path.join(logs, "postgres-statements.txt"))
            print(json.dumps(results["postgres"]), file=sys.stderr, flush=True)
        procs.stop(sidecar)
        if "celery" not in args.skip:
            print("==> Celery 5.2, prefork pool, Redis broker and result backend", file=sys.stderr, flush=True)
            results["celery"] = run_celery(args, f"redis://127.0.0.1:{redis_port}/1", redis_server.pid, procs, logs)
            print(json.dumps(results["celery"]), file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)

    results["settings"] = {"runs": args.runs, "callers": args.callers, "idle": args.idle, "warmup": args.warmup,
                           "concurrency": args.concurrency, "at": stamp}
    with open(os.path.join(logs, "figures.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    shutil.copy(os.path.join(logs, "figures.json"), os.path.join(ROOT, ".run", "bench-e2e", "latest.json"))

    celery: Optional[Dict] = results.get("celery")
    print(f"| system | runs/s ({args.runs} runs, {args.callers} callers) | vs Celery | idle p50 | idle p99 | worker CPU per run | app CPU per run | servers' CPU per run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, label in (("sqlite", "FirstSip, SQLite"), ("postgres", "FirstSip, PostgreSQL"), ("celery", "Celery 5.2")):
        figures = results.get(key)
        if figures is None:
            continue
        ratio = f"{figures['runs_per_second'] / celery['runs_per_second']:.2f}x" if celery else "-"
        cpu = (f"{figures['cpu_ms_per_run_worker']:.2f} ms worker, {figures['cpu_ms_per_run_with_pool']:.2f} ms with pool"
               if "cpu_ms_per_run_worker" in figures else f"{figures['cpu_ms_per_run_with_pool']:.2f} ms worker and pool")
        app = f"{figures['app_cpu_ms_per_run']:.2f} ms" if "app_cpu_ms_per_run" in figures else "-"
        servers = ", ".join(f"{name} {figures[f'{name}_cpu_ms_per_run']:.2f} ms" for name in ("redis", "postgres")
                            if f"{name}_cpu_ms_per_run" in figures)
        print(f"| {label} | {figures['runs_per_second']:.1f} | {ratio} | {figures['idle_p50_ms']:.1f} ms | "
              f"{figures['idle_p99_ms']:.1f} ms | {cpu} | {app} | {servers} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
