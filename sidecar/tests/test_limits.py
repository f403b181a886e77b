"""The three limits: queue timeout and deadline before the start, execution timeout and deadline while running."""

from __future__ import annotations

import re
import time

from firstsip_sidecar import limits
from firstsip_sidecar.types import PluginRequest

from conftest import events_for, pending_count, publish, wait_result
from test_worker import assert_all_dead, read_pids

NOW = 1_771_469_823_000


def request(**extra):
    return PluginRequest(run_id="r", raw_run_id="r", plugin_name="echo", user_id=1, settings={}, **extra)


def test_utc_text():
    assert limits.utc_text(NOW) == "2026-02-19T02:57:03.000Z"
    assert limits.utc_text(NOW + 45) == "2026-02-19T02:57:03.045Z"


def test_a_run_without_limits_always_starts():
    assert limits.refusal(request(), NOW) is None


def test_a_run_past_its_queue_timeout_is_not_started():
    outcome = limits.refusal(request(queue_deadline_ms=NOW - 1), NOW)
    assert outcome.status == "failed" and outcome.wire_kind == "not_started" and not outcome.retryable
    assert outcome.error == "never started: the queue timeout ended at 2026-02-19T02:57:02.999Z before a worker took the run"
    assert limits.refusal(request(queue_deadline_ms=NOW + 1), NOW) is None


def test_a_run_past_its_deadline_is_not_started():
    outcome = limits.refusal(request(deadline_ms=NOW), NOW)
    assert outcome.wire_kind == "not_started"
    assert outcome.error == "never started: the deadline passed at 2026-02-19T02:57:03.000Z before the run started"
    assert limits.refusal(request(deadline_ms=NOW + 1, queue_deadline_ms=NOW + 1), NOW) is None


def test_the_budget_is_the_smaller_of_the_timeout_and_the_time_left():
    plain = limits.budget(request(), 30.0, NOW)
    assert (plain.seconds, plain.by_deadline, plain.timeout_error) == (30.0, False, "timed out after 30 s")
    far = limits.budget(request(deadline_ms=NOW + 60_000), 30.0, NOW)
    assert far.seconds == 30.0 and not far.by_deadline
    near = limits.budget(request(deadline_ms=NOW + 2_500), 30.0, NOW)
    assert near.seconds == 2.5 and near.by_deadline
    assert near.timeout_error == "timed out: the run's deadline passed at 2026-02-19T02:57:05.500Z"


def test_limits_end_to_end(r, names, sidecar_factory, tmp_path):
    sidecar_factory(SIDECAR_CONCURRENCY="3")
    now_ms = int(time.time() * 1000)
    queued_too_long = publish(r, names, "echo", {}, queue_deadline=now_ms - 1000, deadline=now_ms + 600_000)
    # Queued an hour ago, limits far away: nothing about the time it waited stops it.
    patient = publish(r, names, "echo", {}, published_at=int(time.time()) - 3600,
                      queue_deadline=now_ms + 600_000, deadline=now_ms + 600_000)
    bounded = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "bounded.pid")},
                      timeout_seconds=60, deadline=now_ms + 4000)
    timed = publish(r, names, "sleepy", {"seconds": 120}, timeout_seconds=1)

    refused = wait_result(r, names, queued_too_long)
    assert refused["status"] == "failed" and refused["kind"] == "not_started" and refused["retryable"] is False
    assert re.fullmatch(r"never started: the queue timeout ended at \S+Z before a worker took the run", refused["error"])
    assert events_for(r, names, queued_too_long) == []
    assert r.get(names.key(queued_too_long, "done")) == "final:1"

    assert wait_result(r, names, patient)["status"] == "completed"

    pids = read_pids(str(tmp_path / "bounded.pid"))
    stopped = wait_result(r, names, bounded)
    assert stopped["kind"] == "timed_out"
    assert re.fullmatch(r"timed out: the run's deadline passed at \S+Z", stopped["error"])
    assert int(stopped["_fields"]["duration_ms"]) < 30_000
    assert_all_dead(pids)

    timeout = wait_result(r, names, timed)
    assert timeout["kind"] == "timed_out" and timeout["error"] == "timed out after 1 s"
    assert pending_count(r, names) == 0
