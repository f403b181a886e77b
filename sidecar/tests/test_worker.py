"""The worker end to end: real sidecar processes against a real redis-server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import time
import uuid

import pytest
import redis

from firstsip_sidecar.sealing import seal

from conftest import (
    REAL_PLUGINS,
    TEST_PLUGINS,
    VECTORS,
    Names,
    RedisServer,
    events_for,
    pending_count,
    publish,
    request_fields,
    results,
    results_for,
    start_sidecar,
    wait_for,
    wait_result,
)

SEAL_KEY = bytes(range(1, 33))
SEAL_KEY_TEXT = base64.b64encode(SEAL_KEY).decode()
VECTOR_RUN_ID = "3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40"


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "r", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def read_pids(path) -> list:
    text = wait_for(lambda: os.path.exists(path) and open(path, encoding="utf-8").read().strip(), 60, f"pid file {path}")
    return [int(value) for value in text.split()]


def assert_all_dead(pids) -> None:
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), 30, f"processes {pids} to end")


@pytest.fixture(scope="module")
def shared(redis_url, tmp_path_factory):
    """One sidecar over the test plugins (with a seal key), for the tests that do not stop it."""
    names = Names()
    log = str(tmp_path_factory.mktemp("shared") / "sidecar.log")
    sidecar = start_sidecar(redis_url, names, log, FIRSTSIP_SEAL_KEY=SEAL_KEY_TEXT, SIDECAR_CONCURRENCY="3",
                            SIDECAR_MAX_RESULT_BYTES="4096")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield names, sidecar, client
    sidecar.close()
    client.close()


def test_request_vectors_end_to_end(r, names, sidecar_factory):
    """Every case of requests.json, published before the group exists, ends as the vector says."""
    with open(os.path.join(VECTORS, "requests.json"), encoding="utf-8") as handle:
        cases = json.load(handle)["cases"]
    runs = {}
    for case in cases:
        fields = dict(case["fields"])
        run_id = str(uuid.uuid4())
        if "payload" in fields:
            fields["payload"] = fields["payload"].replace(VECTOR_RUN_ID, run_id)
        runs[case["name"]] = (run_id, r.xadd(names.requests, fields))
    sidecar = sidecar_factory(plugin_dir=REAL_PLUGINS, OPENAI_API_KEY="sk-stub-key")

    def all_settled():
        return len(results(r, names)) >= sum(1 for case in cases if "poison" not in case or case.get("run_id")) \
            and r.xlen(names.dead) >= sum(1 for case in cases if "poison" in case) and pending_count(r, names) == 0

    wait_for(all_settled, 120, "every vector to be settled")
    dead = {fields["dead_original_id"]: fields for _, fields in r.xrange(names.dead)}
    for case in cases:
        run_id, entry_id = runs[case["name"]]
        outcome = results_for(r, names, run_id)
        if "poison" in case:
            assert case["poison"] in dead[entry_id]["dead_reason"], case["name"]
            assert dead[entry_id]["dead_group"] == "crewai-workers"
            assert dead[entry_id]["dead_consumer"] == sidecar.consumer
            assert int(dead[entry_id]["dead_at"]) > 0
            for key, value in case["fields"].items():
                expected = value.replace(VECTOR_RUN_ID, run_id) if key == "payload" else value
                assert dead[entry_id][key] == expected
            if case.get("run_id"):
                assert len(outcome) == 1 and outcome[0]["status"] == "failed"
                assert case["poison"] in outcome[0]["error"], case["name"]
            else:
                assert outcome == [], case["name"]
        elif "failed" in case or "poison_or_failed" in case:
            text = case.get("failed") or case["poison_or_failed"]
            assert len(outcome) == 1 and outcome[0]["status"] == "failed", case["name"]
            assert text in outcome[0]["error"], case["name"]
        else:
            assert len(outcome) == 1, case["name"]
            assert outcome[0]["status"] == "completed", (case["name"], outcome[0]["error"])
            briefing = json.loads(outcome[0]["output"])
            assert set(briefing) == {"summary", "sections"}
            topics = case["expect"]["settings"].get("topics", ["technology"])
            assert ", ".join(topics) in briefing["summary"]
    assert "unknown plugin: no-such-plugin" in sidecar.log()


def test_echo_run_publishes_events_and_result_fields(shared):
    names, sidecar, r = shared
    run_id = publish(r, names, "echo", {"steps": ["fetch", "write"]}, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    result = wait_result(r, names, run_id)
    assert result["status"] == "completed" and result["error"] is None
    output = json.loads(result["output"])
    assert output["settings"] == {"greeting": "hello", "steps": ["fetch", "write"]}
    assert output["run_id"] == run_id and output["attempt"] == 1 and output["remaining_positive"] is True
    fields = result["_fields"]
    assert fields["schema_version"] == "v1" and fields["worker"] == sidecar.consumer and fields["attempt"] == "1"
    assert int(fields["duration_ms"]) >= 0
    assert re.fullmatch(r"00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01", fields["traceparent"])
    events = events_for(r, names, run_id)
    kinds = [(e["kind"], e["step"]) for e in events]
    assert kinds[0] == ("started", None)
    assert [step for kind, step in kinds if kind == "step"] == ["fetch", "write"]
    assert all(e["_fields"]["worker"] == sidecar.consumer and isinstance(e["at"], int) for e in events)
    assert fields["last_step"] == "write"
    assert r.get(names.key(run_id, "done")) == "final:1"
    # The lease is released after the result is published, not in the same transaction.
    wait_for(lambda: not r.exists(names.key(run_id, "lease")), what="the lease released")


def test_results_are_still_published_after_redis_forgets_its_scripts(shared):
    names, sidecar, r = shared
    wait_result(r, names, publish(r, names, "echo", {}))
    r.script_flush()  # as a restarted Redis would have
    run_id = publish(r, names, "echo", {})
    assert wait_result(r, names, run_id)["status"] == "completed"
    assert r.get(names.key(run_id, "done")) == "final:1"
    assert not r.exists(names.key(run_id, "lease"))


def test_markdown_from_an_async_plugin_is_stored_as_a_briefing(shared):
    names, _, r = shared
    run_id = publish(r, names, "briefer", {"who": "Ada"})
    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result["error"]
    assert json.loads(result["output"]) == {
        "summary": "Two things happened for Ada.",
        "sections": [
            {"title": "First", "content": "The first thing."},
            {"title": "Second", "content": "The second thing.\nWith two lines."},
        ],
    }
    assert [e["step"] for e in events_for(r, names, run_id) if e["kind"] == "step"] == ["drafted"]


def test_retry_is_retryable_and_other_errors_are_not(shared):
    names, _, r = shared
    retry_run = publish(r, names, "flaky", {"fail": "retry"}, attempt=2)
    error_run = publish(r, names, "flaky", {"fail": "error"})
    retry = wait_result(r, names, retry_run)
    assert retry["status"] == "failed" and retry["retryable"] is True and "defer 7" in retry["error"]
    assert retry["_fields"]["attempt"] == "2"
    error = wait_result(r, names, error_run)
    assert error["status"] == "failed" and error["retryable"] is False
    assert error["error"] == "ValueError: the upstream answered 500"
    # A later attempt of a run that asked for a retry runs again; the same attempt does not.
    again = request_fields(retry_run, "flaky", {"fail": "error"}, attempt=3)
    r.xadd(names.requests, again)
    wait_for(lambda: len(results_for(r, names, retry_run)) == 2, 60, "the third attempt's result")
    assert results_for(r, names, retry_run)[1]["error"] == "ValueError: the upstream answered 500"


def test_secrets_reach_the_plugin_and_nowhere_else(shared):
    names, sidecar, r = shared
    secret = "sk-very-secret-" + uuid.uuid4().hex
    run_id = str(uuid.uuid4())
    sealed = seal({"OPENAI_API_KEY": secret, "OTHER": "x-" + secret}, SEAL_KEY, run_id)
    r.xadd(names.requests, request_fields(run_id, "echo", {}, secrets=sealed))
    result = wait_result(r, names, run_id)
    output = json.loads(result["output"])
    assert output["secret_names"] == ["OPENAI_API_KEY", "OTHER"]
    assert output["secret_digest"] == hashlib.sha256((secret + "x-" + secret).encode()).hexdigest()
    assert output["seal_key_visible"] is False

    moved = str(uuid.uuid4())
    r.xadd(names.requests, request_fields(moved, "echo", {}, secrets=sealed))
    failed = wait_result(r, names, moved)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("cannot open the run's secrets: authentication failed")

    for stream in (names.results, names.events):
        assert secret not in json.dumps(r.xrange(stream))
    assert secret not in sidecar.log()


def test_invalid_settings_deadline_and_cancel_before_start(shared):
    names, _, r = shared
    invalid = publish(r, names, "echo", {"times": 9, "greeting": 5})
    late = publish(r, names, "echo", {}, deadline=int(time.time() * 1000) - 1000)
    cancelled = str(uuid.uuid4())
    r.set(names.key(cancelled, "cancel"), "user asked", px=86_400_000)
    r.xadd(names.requests, request_fields(cancelled, "echo", {}))
    assert wait_result(r, names, invalid)["error"] == (
        "invalid settings: greeting: must be a string; times: must be at most 3"
    )
    refused = wait_result(r, names, late)
    assert refused["kind"] == "not_started" and refused["retryable"] is False
    assert re.fullmatch(r"never started: the deadline passed at \S+Z before the run started", refused["error"])
    stopped = wait_result(r, names, cancelled)
    assert stopped["error"] == "cancelled: user asked" and stopped["kind"] == "cancelled"
    assert events_for(r, names, cancelled) == []
    assert events_for(r, names, late) == []


def test_an_oversize_result_is_replaced_by_a_failure(shared):
    names, _, r = shared
    run_id = publish(r, names, "echo", {"steps": ["step-%03d-" % i + "x" * 40 for i in range(100)]})
    result = wait_result(r, names, run_id)
    assert result["status"] == "failed"
    assert re.fullmatch(r"output too large \(\d+ bytes, limit 4096\)", result["error"])
    assert pending_count(r, names) == 0


def test_a_dropped_read_connection_is_survived(shared):
    names, sidecar, r = shared
    reader = f"firstsip-sidecar:{sidecar.consumer}:read"
    wait_for(lambda: any(c["name"] == reader for c in r.client_list()), 30, "the read connection")
    for client in r.client_list():
        if client["name"] == reader:
            r.client_kill_filter(_id=client["id"])
    run_id = publish(r, names, "echo", {})
    assert wait_result(r, names, run_id)["status"] == "completed"
    assert sidecar.ready()


def test_timeouts_kill_the_plugin_and_its_children(r, names, sidecar_factory, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name, timeout in (("sleepy", "5"), ("sleepy-default", None)):
        folder = plugins / name
        shutil.copytree(os.path.join(TEST_PLUGINS, "sleepy"), folder)
        manifest = (folder / "plugin.yaml").read_text().replace("name: sleepy", f"name: {name}")
        manifest = manifest.replace("timeout_seconds: 60", f"timeout_seconds: {timeout}" if timeout else "")
        (folder / "plugin.yaml").write_text(manifest)
    broken = plugins / "broken"
    shutil.copytree(os.path.join(TEST_PLUGINS, "echo"), broken)
    (broken / "plugin.yaml").write_text((broken / "plugin.yaml").read_text().replace("name: echo", "name: broken").replace("runtime: python", "runtime: node"))
    sidecar = sidecar_factory(plugin_dir=str(plugins), CREW_TIMEOUT_SECONDS="6.5", SIDECAR_CONCURRENCY="3")
    invalid = publish(r, names, "broken", {})
    assert wait_result(r, names, invalid)["error"] == "plugin broken is invalid: runtime must be python or crewai, not 'node'"

    busy = publish(r, names, "sleepy", {"mode": "busy", "seconds": 120, "pid_file": str(tmp_path / "busy.pid")})
    default = publish(r, names, "sleepy-default", {"seconds": 120, "pid_file": str(tmp_path / "default.pid")})
    override = publish(r, names, "sleepy", {"seconds": 7}, timeout_seconds=60)

    busy_pids = read_pids(str(tmp_path / "busy.pid"))
    default_pids = read_pids(str(tmp_path / "default.pid"))
    assert wait_result(r, names, busy)["error"] == "timed out after 5 s"
    assert wait_result(r, names, default)["error"] == "timed out after 6.5 s"
    assert_all_dead(busy_pids + default_pids)
    assert wait_result(r, names, override)["status"] == "completed"
    metrics = sidecar.get("/metrics").text
    assert "firstsip_sidecar_runs_timed_out_total 2" in metrics
    assert pending_count(r, names) == 0


def test_cancel_stops_a_running_execution(r, names, sidecar_factory, tmp_path):
    sidecar_factory(SIDECAR_HEARTBEAT_SECONDS="0.2")
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    wait_for(lambda: any(e["kind"] == "heartbeat" for e in events_for(r, names, run_id)), 30, "a heartbeat")
    r.set(names.key(run_id, "cancel"), "stopped by the user", px=86_400_000)
    r.publish(f"{names.prefix}cancel", run_id)
    result = wait_result(r, names, run_id)
    assert result["status"] == "failed" and result["error"] == "cancelled: stopped by the user"
    assert result["kind"] == "cancelled" and result["retryable"] is False
    assert_all_dead(pids)
    assert pending_count(r, names) == 0


def test_cancel_key_alone_stops_a_run(r, names, sidecar_factory, tmp_path):
    """Without the channel message the worker still sees the durable key within seconds."""
    sidecar_factory()
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    r.set(names.key(run_id, "cancel"), "reaper", px=86_400_000)
    assert wait_result(r, names, run_id)["error"] == "cancelled: reaper"
    assert_all_dead(pids)


def test_the_same_request_delivered_twice_runs_once(r, names, sidecar_factory, tmp_path):
    count_file = tmp_path / "count.txt"
    run_id = str(uuid.uuid4())
    fields = request_fields(run_id, "echo", {"sleep": 1.5, "count_file": str(count_file)})
    r.xadd(names.requests, fields)
    r.xadd(names.requests, fields)
    sidecar_factory(SIDECAR_CONCURRENCY="1")
    sidecar_factory(SIDECAR_CONCURRENCY="1")

    def both_settled():
        groups = r.xinfo_groups(names.requests)
        return groups and groups[0]["pending"] == 0 and int(groups[0].get("entries-read") or 0) >= 2

    wait_for(both_settled, 60, "both entries acknowledged")
    assert len(results_for(r, names, run_id)) == 1
    assert count_file.read_text().splitlines() == [f"{run_id} 1"]

    r.xadd(names.requests, fields)  # redelivered after the run finished
    wait_for(lambda: int(r.xinfo_groups(names.requests)[0].get("entries-read") or 0) >= 3 and pending_count(r, names) == 0,
             60, "the third delivery acknowledged")
    assert len(results_for(r, names, run_id)) == 1
    assert count_file.read_text().splitlines() == [f"{run_id} 1"]

    # done = final:1 settles the run: a newer attempt is acknowledged without running too.
    r.xadd(names.requests, request_fields(run_id, "echo", {"count_file": str(count_file)}, attempt=2))
    wait_for(lambda: int(r.xinfo_groups(names.requests)[0].get("entries-read") or 0) >= 4 and pending_count(r, names) == 0,
             60, "the second attempt acknowledged")
    assert len(results_for(r, names, run_id)) == 1
    assert count_file.read_text().splitlines() == [f"{run_id} 1"]


def test_no_more_than_the_concurrency_runs_at_once(r, names, sidecar_factory, tmp_path):
    intervals = tmp_path / "intervals.txt"
    run_ids = [publish(r, names, "echo", {"sleep": 1, "intervals_file": str(intervals)}) for _ in range(5)]
    sidecar_factory(SIDECAR_CONCURRENCY="2")
    for run_id in run_ids:
        assert wait_result(r, names, run_id)["status"] == "completed"
    spans = [tuple(map(float, line.split())) for line in intervals.read_text().splitlines()]
    assert len(spans) == 5
    most = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert most <= 2


def test_a_long_run_keeps_its_entry_while_it_runs(r, names, sidecar_factory, tmp_path):
    """Renewal: with a 3 s claim timeout, an 8 s run is neither taken over nor run twice."""
    count_file = tmp_path / "count.txt"
    options = {"SIDECAR_CLAIM_TIMEOUT_SECONDS": "3", "SIDECAR_CONCURRENCY": "1"}
    first = sidecar_factory(**options)
    second = sidecar_factory(**options)
    run_id = publish(r, names, "echo", {"sleep": 8, "count_file": str(count_file)})
    result = wait_result(r, names, run_id)
    assert result["status"] == "completed"
    assert count_file.read_text().splitlines() == [f"{run_id} 1"]
    assert len(results_for(r, names, run_id)) == 1
    assert pending_count(r, names) == 0
    assert first.process.poll() is None and second.process.poll() is None


def test_a_run_of_a_sigkilled_worker_is_finished_by_another(r, names, sidecar_factory, tmp_path):
    options = {"SIDECAR_CLAIM_TIMEOUT_SECONDS": "1.5", "SIDECAR_CONCURRENCY": "1"}
    first = sidecar_factory(**options)
    run_id = publish(r, names, "sleepy", {"seconds": 3, "pid_file": str(tmp_path / "first.pid")})
    pids = read_pids(str(tmp_path / "first.pid"))
    first.kill()
    assert_all_dead(pids)  # the orphaned execution notices its worker is gone and ends itself
    assert results_for(r, names, run_id) == []
    os.replace(tmp_path / "first.pid", tmp_path / "old.pid")

    second = sidecar_factory(**options)
    result = wait_result(r, names, run_id, timeout=90)
    assert result["status"] == "completed", result["error"]
    assert result["_fields"]["worker"] == second.consumer
    assert read_pids(str(tmp_path / "first.pid"))[0] != pids[0]
    assert len(results_for(r, names, run_id)) == 1
    assert pending_count(r, names) == 0
    assert "firstsip_sidecar_requests_reclaimed_total 1" in second.get("/metrics").text


def test_sigterm_lets_running_executions_finish(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_SHUTDOWN_GRACE_SECONDS="60")
    run_id = publish(r, names, "sleepy", {"seconds": 2, "pid_file": str(tmp_path / "run.pid")})
    read_pids(str(tmp_path / "run.pid"))
    sidecar.terminate()
    assert sidecar.process.wait(timeout=60) == 0
    result = results_for(r, names, run_id)
    assert len(result) == 1 and result[0]["status"] == "completed"
    assert pending_count(r, names) == 0


def test_a_stopping_worker_takes_no_new_request_with_its_last_result(r, names, sidecar_factory, tmp_path):
    """A busy worker reads its next request as it settles one; once it stops, it reads none, so the queued request is
    left to the next worker, not pending on a worker that is gone."""
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="1", SIDECAR_SHUTDOWN_GRACE_SECONDS="60")
    first = publish(r, names, "sleepy", {"seconds": 2, "pid_file": str(tmp_path / "run.pid")})
    read_pids(str(tmp_path / "run.pid"))
    queued = publish(r, names, "echo", {})
    sidecar.terminate()
    assert sidecar.process.wait(timeout=60) == 0
    assert wait_result(r, names, first)["status"] == "completed"
    assert results_for(r, names, queued) == [] and pending_count(r, names) == 0
    sidecar_factory(SIDECAR_CONCURRENCY="1")
    assert wait_result(r, names, queued)["status"] == "completed"


def test_sigterm_kills_executions_past_the_grace_period_and_leaves_them_pending(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_SHUTDOWN_GRACE_SECONDS="0.5")
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    sidecar.terminate()
    assert sidecar.process.wait(timeout=60) == 0
    assert_all_dead(pids)
    assert results_for(r, names, run_id) == []
    assert pending_count(r, names) == 1
    assert not r.exists(names.key(run_id, "lease"))
    assert "killed at shutdown" in sidecar.log()


def test_entries_delivered_too_often_are_dead_lettered(r, names, sidecar_factory):
    r.xgroup_create(names.requests, names.group, id="0", mkstream=True)
    run_id = publish(r, names, "echo", {})
    entry_id = r.xreadgroup(names.group, "ghost", {names.requests: ">"})[0][1][0][0]
    r.execute_command("XCLAIM", names.requests, names.group, "ghost", 0, entry_id, "IDLE", 100000, "RETRYCOUNT", 9)
    sidecar_factory(SIDECAR_CLAIM_TIMEOUT_SECONDS="1", SIDECAR_MAX_DELIVERIES="5")
    result = wait_result(r, names, run_id)
    assert result["status"] == "failed"
    assert re.fullmatch(r"delivered (\d+) times, more than the maximum 5", result["error"])
    dead = r.xrange(names.dead)
    assert len(dead) == 1 and dead[0][1]["dead_reason"] == result["error"]
    assert dead[0][1]["dead_original_id"] == entry_id
    assert pending_count(r, names) == 0


def test_health_endpoints_follow_redis(names, sidecar_factory):
    server = RedisServer()
    server.start()
    try:
        sidecar = sidecar_factory(REDIS_URL=server.url)
        live = sidecar.get("/health/live")
        assert live.status_code == 200 and live.json() == {"status": "live"}
        ready = sidecar.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["redis"] is True and ready.json()["status"] == "ready"
        metrics = sidecar.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        for name in ("requests_received_total", "runs_completed_total", "runs_failed_total", "runs_timed_out_total",
                     "requests_dead_lettered_total", "runs_in_flight", "execution_seconds_count"):
            assert f"firstsip_sidecar_{name} " in metrics.text

        server.stop()
        wait_for(lambda: sidecar.get("/health/ready").status_code == 503, 60, "not ready without Redis")
        assert sidecar.get("/health/ready").json()["redis"] is False
        assert sidecar.get("/health/live").status_code == 200

        server.start()  # an empty server on the same port: the group is gone and is created again
        wait_for(lambda: sidecar.get("/health/ready").status_code == 200, 60, "ready again")
        client = redis.Redis.from_url(server.url, decode_responses=True)
        run_id = publish(client, names, "echo", {})
        assert wait_result(client, names, run_id)["status"] == "completed"
        client.close()
        assert "firstsip_sidecar_runs_completed_total 1" in sidecar.get("/metrics").text
    finally:
        server.stop()


def test_readiness_needs_a_fresh_loop_heartbeat(redis_url):
    """The read loop stamps a heartbeat each pass; a stale one means not ready even with Redis up."""
    import asyncio

    from firstsip_sidecar.connections import close_client, create_client
    from firstsip_sidecar.settings import Settings
    from firstsip_sidecar.worker import Worker

    async def check():
        worker = Worker(Settings.from_env({"REDIS_URL": redis_url, "PLUGIN_DIR": TEST_PLUGINS}))
        worker.client = create_client(worker.settings)
        try:
            worker.last_loop_at = time.monotonic() - 60
            stale = await worker.ready()
            worker.last_loop_at = time.monotonic()
            fresh = await worker.ready()
        finally:
            await close_client(worker.client)
        return stale, fresh

    (stale_ok, stale), (fresh_ok, fresh) = asyncio.run(check())
    assert not stale_ok and stale["redis"] is True and stale["loop_heartbeat_age_seconds"] >= 60
    assert fresh_ok and fresh["redis"] is True


def test_bad_configuration_stops_the_sidecar_at_start(names, sidecar_factory):
    sidecar = sidecar_factory(wait=False, SIDECAR_CONCURRENCY="0")
    assert sidecar.process.wait(timeout=60) == 2
    assert "SIDECAR_CONCURRENCY must be at least 1" in sidecar.log()


def test_the_sidecar_starts_without_redis_and_becomes_ready_when_it_appears(names, sidecar_factory):
    server = RedisServer()
    sidecar = sidecar_factory(wait=False, REDIS_URL=server.url)
    wait_for(lambda: sidecar.get_or_none("/health/live") == 200, 60, "live without Redis")
    assert sidecar.get("/health/ready").status_code == 503
    server.start()
    try:
        wait_for(sidecar.ready, 60, "ready once Redis is up")
    finally:
        server.stop()


@pytest.mark.timeout(90)
def test_a_lost_cancellation_in_a_keepalive_command_does_not_hold_the_result(r, names, redis_url, monkeypatch):
    """redis-py 4.3 on Debian's async-timeout 4.0.2 can lose a cancellation that lands during a command.

    The worker must not depend on cancelling a task that is in a Redis command. Here the keepalive's
    GET is in flight when the execution ends and loses any cancellation, as the library race does;
    the run's result must still be published.
    """
    import asyncio

    from firstsip_sidecar import executor
    from firstsip_sidecar.settings import Settings
    from firstsip_sidecar.worker import Worker

    async def scenario():
        ended = asyncio.Event()
        running = asyncio.Event()
        real_run = executor.Execution.run

        async def run_and_mark(self):
            running.set()
            try:
                return await real_run(self)
            finally:
                ended.set()

        monkeypatch.setattr(executor.Execution, "run", run_and_mark)
        worker = Worker(Settings.from_env({
            "REDIS_URL": redis_url,
            "PLUGIN_DIR": TEST_PLUGINS,
            "SIDECAR_CONCURRENCY": "1",
            "SIDECAR_HEARTBEAT_SECONDS": "0.1",
            "SIDECAR_BLOCK_SECONDS": "0.5",
            "FIRSTSIP_REQUESTS_STREAM": names.requests,
            "FIRSTSIP_RESULTS_STREAM": names.results,
            "FIRSTSIP_EVENTS_STREAM": names.events,
            "FIRSTSIP_KEY_PREFIX": names.prefix,
        }))
        await worker.start()
        real_mget = worker.client.mget
        polls = []

        async def mget_losing_cancellation(*keys, **kwargs):
            # Only the keepalive's poll of the cancel and done keys (the start check comes before the run).
            if not running.is_set():
                return await real_mget(*keys, **kwargs)
            polls.append(keys)
            while True:
                try:
                    await ended.wait()
                    break
                except asyncio.CancelledError:
                    continue  # lost, as in the library race
            return await real_mget(*keys, **kwargs)

        worker.client.mget = mget_losing_cancellation
        run_id = publish(r, names, "sleepy", {"mode": "sleep", "seconds": 30}, timeout_seconds="1")
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not results_for(r, names, run_id):
                await asyncio.sleep(0.1)
            assert polls, "the keepalive never polled the stop markers"
            return results_for(r, names, run_id)
        finally:
            # Bounded: a worker stuck on its keepalive would never stop.
            await asyncio.wait_for(worker.stop(grace_seconds=1), timeout=15)

    found = asyncio.run(scenario())
    assert len(found) == 1, "the timed-out run's result was not published"
    assert found[0]["error"] == "timed out after 1 s" and found[0]["kind"] == "timed_out"


def test_a_worker_announces_itself_and_leaves_the_registry_when_killed(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_WORKER_TTL_SECONDS="1.5", SIDECAR_CONCURRENCY="2")
    key = f"{names.prefix}worker:{sidecar.consumer}"
    entry = json.loads(wait_for(lambda: r.get(key), 10, "the registry key"))
    assert entry["consumer"] == sidecar.consumer
    assert entry["pid"] == sidecar.process.pid
    assert entry["slots"] == 2 and entry["group"] == names.group and entry["stream"] == names.requests
    assert "echo" in entry["plugins"] and entry["in_flight"] == []
    assert 0 < r.pttl(key) <= 1500

    run_id = publish(r, names, "sleepy", {"seconds": 3, "pid_file": str(tmp_path / "run.pid")})
    read_pids(str(tmp_path / "run.pid"))

    def running() -> bool:
        value = r.get(key)
        return bool(value) and [run["run_id"] for run in json.loads(value)["in_flight"]] == [run_id]

    wait_for(running, 10, "the run in the registry entry")
    sidecar.kill()
    wait_for(lambda: not r.exists(key), 3, "the key to expire")


def test_a_stopping_worker_withdraws_from_the_registry(r, names, sidecar_factory):
    sidecar = sidecar_factory(SIDECAR_WORKER_TTL_SECONDS="60")
    key = f"{names.prefix}worker:{sidecar.consumer}"
    wait_for(lambda: r.exists(key), 10, "the registry key")
    sidecar.terminate()
    assert sidecar.process.wait(timeout=60) == 0
    assert not r.exists(key)


def test_the_started_event_goes_out_while_a_run_executes_and_a_short_runs_result_carries_its_start(r, names, sidecar_factory):
    # A run of the warm pool ends well within half a second; its first one imports the plugin.
    sidecar_factory(SIDECAR_CONCURRENCY="1", SIDECAR_STARTED_EVENT_DELAY_SECONDS="0.5")
    wait_result(r, names, publish(r, names, "echo", {}))
    before = int(time.time() * 1000)
    short = publish(r, names, "echo", {})
    result = wait_result(r, names, short)
    assert not [e for e in events_for(r, names, short) if e["kind"] == "started"], "a short run sent its started event"
    (result_id,) = [entry_id for entry_id, fields in r.xrange(names.results) if short in fields["payload"]]
    assert before <= int(result["_fields"]["started_at"]) <= int(result_id.split("-")[0])

    slow = publish(r, names, "echo", {"sleep": 1.5})
    wait_for(lambda: [e for e in events_for(r, names, slow) if e["kind"] == "started"], 10, "the slow run's started event")
    assert not results_for(r, names, slow), "the started event waited for the result"
    result = wait_result(r, names, slow)
    assert "started_at" not in result["_fields"], "the result repeated a start its event had sent"
    (event_id,) = [
        entry_id for entry_id, fields in r.xrange(names.events)
        if slow in fields["payload"] and json.loads(fields["payload"])["kind"] == "started"
    ]
    (result_id,) = [entry_id for entry_id, fields in r.xrange(names.results) if slow in fields["payload"]]
    event_ms, result_ms = int(event_id.split("-")[0]), int(result_id.split("-")[0])
    assert result_ms - event_ms >= 900, "the slow run's started event did not go out while it ran"
