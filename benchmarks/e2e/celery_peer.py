"""The Celery peer of `./run bench-e2e`: a no-op task, and a client that posts it as the .NET host posts runs.

Worker:  python3 -m celery -A celery_peer worker --pool=prefork --concurrency=2 ...
Client:  python3 celery_peer.py --runs 2000 --callers 8 --idle 200 --warmup 1000   (prints one JSON line)
The broker and the result backend are the Redis of BENCH_REDIS_URL.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time

from celery import Celery

app = Celery("celery_peer", broker=os.environ["BENCH_REDIS_URL"], backend=os.environ["BENCH_REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"], worker_hijack_root_logger=False)


@app.task(name="noop")
def noop() -> dict:
    """Does nothing, like the FirstSip benchmark's noop plugin."""
    return {}


def _percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args()

    def one() -> float:
        started = time.perf_counter()
        noop.delay().get(timeout=60)
        return (time.perf_counter() - started) * 1000

    def load(count: int) -> "tuple[float, int]":
        """`count` tasks sent by the callers, each sending its share and then waiting for each result."""
        failed = [0]
        lock = threading.Lock()

        def caller(index: int) -> None:
            share = count // args.callers + (1 if index < count % args.callers else 0)
            pending = [noop.delay() for _ in range(share)]
            for result in pending:
                try:
                    result.get(timeout=300)
                except Exception:  # counted, not raised: the figures say how many failed
                    with lock:
                        failed[0] += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=caller, args=(i,)) for i in range(args.callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, failed[0]

    # Warm-up under load, as for FirstSip's host, then one task alone before the idle latency.
    load(args.warmup)
    one()
    idle = [one() for _ in range(args.idle)]
    seconds, failures = load(args.runs)
    print(json.dumps({
        "runs": args.runs, "all_runs": args.warmup + 1 + args.idle + args.runs, "callers": args.callers,
        "failed": failures, "seconds": round(seconds, 3), "runs_per_second": round(args.runs / seconds, 1),
        "idle_p50_ms": round(_percentile(idle, 0.5), 2), "idle_p99_ms": round(_percentile(idle, 0.99), 2),
    }))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
