"""What the keepalive does while a run executes: stop it when the run is terminal or finished elsewhere."""

from __future__ import annotations

from firstsip_sidecar.keepalive import stop_reason

from conftest import pending_count, publish, results_for, wait_for, wait_result
from test_worker import assert_all_dead, events_for, read_pids


def test_stop_reasons():
    assert stop_reason(None, None) is None
    assert stop_reason(None, "retry:1") is None
    assert stop_reason("timed out in the app", None) == "timed out in the app"
    assert stop_reason("", None) == "the run is terminal in the app"
    assert stop_reason(None, "final:3") == "another attempt finished the run (final:3)"


def test_a_run_another_attempt_finished_is_stopped(r, names, sidecar_factory, tmp_path):
    sidecar_factory(SIDECAR_HEARTBEAT_SECONDS="0.2")
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    wait_for(lambda: any(e["kind"] == "heartbeat" for e in events_for(r, names, run_id)), 30, "a heartbeat")
    r.set(names.key(run_id, "done"), "final:2", px=86_400_000)
    result = wait_result(r, names, run_id)
    assert result["status"] == "failed" and result["kind"] == "cancelled"
    assert result["error"] == "cancelled: another attempt finished the run (final:2)"
    assert_all_dead(pids)
    assert pending_count(r, names) == 0
    assert r.get(names.key(run_id, "done")) == "final:2"
    assert len(results_for(r, names, run_id)) == 1
