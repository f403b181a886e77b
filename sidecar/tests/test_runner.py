"""The plugin process (``python -m firstsip_sidecar.runner``): its lease watch and its control input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from firstsip_sidecar.runner import LeaseWatch

from conftest import SIDECAR_ROOT, TEST_PLUGINS
from test_worker import assert_all_dead, read_pids


def test_lease_watch_fires_at_the_deadline():
    fired = threading.Event()
    started = time.monotonic()
    watch = LeaseWatch(150, on_expiry=fired.set)
    threading.Thread(target=watch.run, daemon=True).start()
    assert fired.wait(5)
    assert time.monotonic() - started >= 0.15


def test_lease_watch_extensions_move_the_deadline():
    fired = threading.Event()
    watch = LeaseWatch(200, on_expiry=fired.set)
    threading.Thread(target=watch.run, daemon=True).start()
    watch.extend(60_000)
    assert not fired.wait(0.6), "an extended lease expired at its old deadline"
    watch.extend(0)
    assert fired.wait(5)


def test_lease_watch_without_a_lease_waits_for_the_first_word():
    fired = threading.Event()
    watch = LeaseWatch(None, on_expiry=fired.set)
    threading.Thread(target=watch.run, daemon=True).start()
    assert not fired.wait(0.3)
    watch.extend(10)
    assert fired.wait(5)


def test_lease_watch_wakes_for_an_earlier_deadline():
    fired = threading.Event()
    watch = LeaseWatch(60_000, on_expiry=fired.set)
    threading.Thread(target=watch.run, daemon=True).start()
    time.sleep(0.05)  # the thread now sleeps towards the one-minute deadline
    watch.extend(50)
    assert fired.wait(5), "an earlier deadline waited for the later one"


def test_lease_watch_disarmed_between_runs_fires_only_for_the_next_lease():
    fired = threading.Event()
    watch = LeaseWatch(None, on_expiry=fired.set)
    threading.Thread(target=watch.run, daemon=True).start()
    watch.extend(150)
    watch.disarm()
    assert not fired.wait(0.5), "a disarmed watch fired at the old deadline"
    watch.extend(60_000)
    watch.extend(50)
    assert fired.wait(5)


def _start_runner(tmp_path, lease_ms, seconds=60):
    job = {
        "run_id": "r1",
        "attempt": 1,
        "deadline": time.time() + 60,
        "settings": {"mode": "sleep", "seconds": seconds, "pid_file": str(tmp_path / "run.pid")},
        "secrets": {},
        "lease_ms": lease_ms,
        "plugin": {
            "name": "sleepy",
            "runtime": "python",
            "directory": os.path.join(TEST_PLUGINS, "sleepy"),
            "entry_file": os.path.join(TEST_PLUGINS, "sleepy", "sleepy.py"),
            "function": "run",
        },
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "firstsip_sidecar.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SIDECAR_ROOT},
        start_new_session=True,
    )
    process.stdin.write(json.dumps(job).encode() + b"\n")
    process.stdin.flush()
    return process


def test_the_plugin_process_kills_its_group_when_its_lease_runs_out(tmp_path):
    process = _start_runner(tmp_path, lease_ms=1000)
    try:
        pids = read_pids(str(tmp_path / "run.pid"))
        started = time.monotonic()
        # Extensions keep it running well past its first lease (1 s from reading the job).
        while time.monotonic() - started < 2.0:
            process.stdin.write(json.dumps({"type": "lease", "remaining_ms": 1000}).encode() + b"\n")
            process.stdin.flush()
            time.sleep(0.3)
            assert process.poll() is None, "the process stopped although its lease was extended"
        assert process.wait(timeout=10) == -signal.SIGKILL
        lines = [json.loads(line) for line in process.stdout.read().splitlines()]
        assert {"type": "lease_expired"} in lines
        assert not any(line.get("type") == "result" for line in lines)
        assert_all_dead(pids)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_the_plugin_process_kills_its_group_when_its_worker_closes_the_control_input(tmp_path):
    process = _start_runner(tmp_path, lease_ms=60_000)
    try:
        pids = read_pids(str(tmp_path / "run.pid"))
        process.stdin.close()
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert_all_dead(pids)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
