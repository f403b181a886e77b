"""The sidecar alone under a backlog: what one run costs the worker, without the application.

Starts a private redis-server and one sidecar (the end-to-end benchmark's settings and its no-op plugin), then
keeps --backlog requests of the no-op plugin queued on ``plugin:requests``, as the application would publish them,
until --runs results have come back. Printed: runs/s, the sidecar's CPU per run (its own process, and its pool
processes), and Redis's commands per run (``INFO commandstats``: the sidecar's and this script's, and the commands
the sidecar's scripts ran besides each ``EVALSHA``). With
--backlog 1 the runs go one at a time (round trip per run instead of throughput).

To compare two versions of the sidecar, run this script of one checkout with --sidecar pointing at the other's
``sidecar`` folder, alternating the two several times: on a shared machine only alternated runs compare.

    python3 benchmarks/e2e/sidecar_load.py --runs 4000
    python3 benchmarks/e2e/sidecar_load.py --runs 400 --backlog 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Dict

import redis

from bench_e2e import ROOT, Processes, free_port, sidecar_cpu, start_sidecar, wait_until


def request_fields() -> Dict[str, str]:
    payload = {"plugin_run_id": str(uuid.uuid4()), "plugin_name": "noop", "user_id": 1, "settings": {}}
    return {"payload": json.dumps(payload), "schema_version": "v1", "attempt": "1", "published_at": str(int(time.time()))}


def drive(client: "redis.Redis", runs: int, backlog: int, last: str) -> str:
    """Publishes ``runs`` requests, never more than ``backlog`` without a result, and waits for every result.

    :returns: the id of the last result read (where the next call starts reading).
    """
    sent = received = 0
    while received < runs:
        while sent < runs and sent - received < backlog:
            client.xadd("plugin:requests", request_fields())
            sent += 1
        for _, entries in client.xread({"plugin:results": last}, count=100, block=1000) or []:
            for entry_id, _ in entries:
                last = entry_id
                received += 1
    return last


def calls(client: "redis.Redis") -> Dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4000, help="runs measured (default 4000)")
    parser.add_argument("--backlog", type=int, default=16, help="requests kept queued or running (default 16)")
    parser.add_argument("--warmup", type=int, default=500, help="runs before the measurement (default 500)")
    parser.add_argument("--concurrency", type=int, default=2, help="SIDECAR_CONCURRENCY (default 2)")
    parser.add_argument("--sidecar", default=os.path.join(ROOT, "sidecar"), help="the sidecar folder to run")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an extra sidecar variable")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sidecar-load-") as work:
        procs = Processes(work)
        try:
            redis_port = free_port()
            procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"])
            client = redis.Redis(port=redis_port, decode_responses=True)
            wait_until("redis to answer", lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"],
                                                                 capture_output=True).returncode == 0)
            client.xgroup_create("plugin:requests", "crewai-workers", id="0", mkstream=True)
            sidecar = start_sidecar(procs, redis_port, args.concurrency, args.set, args.sidecar)
            last = drive(client, args.warmup, args.backlog, "0-0")
            before, commands_before, started = sidecar_cpu(sidecar.pid), calls(client), time.monotonic()
            drive(client, args.runs, args.backlog, last)
            elapsed = time.monotonic() - started
            after, commands_after = sidecar_cpu(sidecar.pid), calls(client)
        finally:
            procs.stop_all()
        worker = (after["worker"] - before["worker"]) * 1000 / args.runs
        pool = (after["pool"] - before["pool"]) * 1000 / args.runs
        per_run = {name.removeprefix("cmdstat_"): round((count - commands_before.get(name, 0)) / args.runs, 2)
                   for name, count in sorted(commands_after.items())}
        print(f"{args.runs} runs, backlog {args.backlog}: {args.runs / elapsed:.0f} runs/s, "
              f"{elapsed * 1000 / args.runs:.2f} ms per run; sidecar CPU per run {worker:.3f} ms worker, "
              f"{pool:.3f} ms pool processes, {worker + pool:.3f} ms in all")
        print("Redis commands per run:", ", ".join(f"{name} {value:g}" for name, value in per_run.items() if value >= 0.01))
    return 0


if __name__ == "__main__":
    sys.exit(main())
