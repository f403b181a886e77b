"""The warm pool: pooled processes keep every isolation guarantee of a process per run."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import time
import uuid

import pytest

from firstsip_sidecar.plugins import load_manifest
from firstsip_sidecar.errors import ManifestError
from firstsip_sidecar.sealing import seal
from firstsip_sidecar.settings import Settings
from firstsip_sidecar.errors import ConfigurationError

from conftest import TEST_PLUGINS, events_for, pending_count, publish, request_fields, results_for, wait_for, wait_result
from test_worker import SEAL_KEY, SEAL_KEY_TEXT, assert_all_dead, pid_alive, read_pids


def pool_pids(sidecar) -> list:
    return sidecar.get("/health/ready").json()["pool"]["pids"]


def output_of(r, names, run_id) -> dict:
    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result.get("error")
    return json.loads(result["output"])


def wait_all_exit(pids, bound_seconds=30.0) -> float:
    """Waits on each pid's pidfd (no sleeping, no polling) until every process ended; returns the seconds it took."""
    started = time.monotonic()
    descriptors = []
    for pid in pids:
        try:
            descriptors.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
    try:
        waiting = list(descriptors)
        while waiting:
            left = bound_seconds - (time.monotonic() - started)
            assert left > 0, f"processes {pids} still run {bound_seconds} s after their worker died"
            ready, _, _ = select.select(waiting, [], [], left)
            waiting = [fd for fd in waiting if fd not in ready]
    finally:
        for fd in descriptors:
            os.close(fd)
    return time.monotonic() - started


def test_runs_reuse_pooled_processes_started_with_the_worker(r, names, sidecar_factory):
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="2")
    started = pool_pids(sidecar)
    assert len(started) == 2
    pids = {output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] for _ in range(4)}
    assert pids <= set(started), "a run did not go to a pooled process"
    assert pool_pids(sidecar) == started


def test_a_timeout_kills_the_pooled_process_group_and_a_fresh_process_takes_the_slot(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="1")
    (before,) = pool_pids(sidecar)
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")}, timeout_seconds=1)
    pids = read_pids(str(tmp_path / "run.pid"))
    assert pids[0] == before, "the run did not go to the pooled process"
    result = wait_result(r, names, run_id)
    assert result["error"] == "timed out after 1 s" and result["kind"] == "timed_out"
    assert_all_dead(pids)  # the pooled process and the grandchild it started
    (after,) = wait_for(lambda: [p for p in pool_pids(sidecar) if p != before], 30, "a fresh pooled process")
    assert pid_alive(after)
    assert output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] == after
    assert pending_count(r, names) == 0


def test_a_cancel_kills_the_pooled_process_group_and_it_is_replaced(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="1")
    (before,) = pool_pids(sidecar)
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    r.set(names.key(run_id, "cancel"), "stopped by the user", px=86_400_000)
    r.publish(f"{names.prefix}cancel", run_id)
    assert wait_result(r, names, run_id)["error"] == "cancelled: stopped by the user"
    assert_all_dead(pids)
    after = output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"]
    assert after != before and after in pool_pids(sidecar)


def test_a_lost_lease_kills_the_pooled_process_group_and_publishes_nothing(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_CLAIM_TIMEOUT_SECONDS="1.5", SIDECAR_CONCURRENCY="1")
    (before,) = pool_pids(sidecar)
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    assert pids[0] == before
    r.set(names.key(run_id, "lease"), "other-worker:1-0", px=60_000)
    assert_all_dead(pids)
    wait_for(lambda: "ended without a result" in sidecar.log(), 30, "the worker to give the run up")
    assert results_for(r, names, run_id) == []
    wait_for(lambda: [p for p in pool_pids(sidecar) if p != before], 30, "a fresh pooled process")


def test_pooled_processes_die_with_their_worker(r, names, sidecar_factory, tmp_path):
    """SIGKILL of the worker alone (not its group): the kernel's parent-death signal ends every pooled
    process's group, the running plugin's grandchild included, waited for on the pids themselves."""
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="2")
    pooled = pool_pids(sidecar)
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    running = read_pids(str(tmp_path / "run.pid"))
    assert running[0] in pooled
    os.kill(sidecar.process.pid, signal.SIGKILL)
    sidecar.process.wait(timeout=30)
    took = wait_all_exit(sorted(set(pooled + running)))
    print(f"pooled processes and the grandchild ended {took * 1000:.1f} ms after the worker")
    assert results_for(r, names, run_id) == []


def test_a_pooled_process_is_recycled_after_its_maximum_runs(r, names, sidecar_factory):
    sidecar_factory(SIDECAR_CONCURRENCY="1", SIDECAR_POOL_MAX_RUNS="2")
    pids = [output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] for _ in range(5)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] not in (pids[0], pids[2])
    assert pids[0] != pids[2]


def test_a_pooled_process_over_its_memory_limit_is_recycled(r, names, sidecar_factory):
    sidecar_factory(SIDECAR_CONCURRENCY="1", SIDECAR_POOL_MAX_MEMORY_MB="1")
    pids = [output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] for _ in range(3)]
    assert len(set(pids)) == 3


def test_a_slow_import_is_paid_once_per_pooled_process(r, names, sidecar_factory, tmp_path):
    log = tmp_path / "imports.txt"
    sidecar_factory(SIDECAR_CONCURRENCY="2", SLOWIMPORT_LOG=str(log), SIDECAR_PLUGIN_ENV="SLOWIMPORT_LOG")
    run_ids = [publish(r, names, "slowimport", {}) for _ in range(8)]
    pids = {output_of(r, names, run_id)["pid"] for run_id in run_ids}
    imports = log.read_text().split()
    assert len(imports) == len(set(imports)), "a pooled process imported the plugin twice"
    assert set(map(int, imports)) == pids
    assert len(imports) <= 2


def test_isolation_process_in_the_manifest_gives_every_run_a_fresh_process(r, names, sidecar_factory, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copytree(os.path.join(TEST_PLUGINS, "sleepy"), plugins / "sleepy")
    shutil.copytree(os.path.join(TEST_PLUGINS, "sleepy"), plugins / "isolated")
    manifest = (plugins / "isolated" / "plugin.yaml").read_text().replace("name: sleepy", "name: isolated")
    (plugins / "isolated" / "plugin.yaml").write_text(manifest + "isolation: process\n")
    sidecar = sidecar_factory(plugin_dir=str(plugins), SIDECAR_CONCURRENCY="1")
    pooled = pool_pids(sidecar)
    pids = [output_of(r, names, publish(r, names, "isolated", {"seconds": 0}))["pid"] for _ in range(3)]
    assert len(set(pids)) == 3 and not set(pids) & set(pooled)
    assert output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] in pooled


def test_sidecar_isolation_process_turns_the_pool_off(r, names, sidecar_factory):
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="1", SIDECAR_ISOLATION="process")
    assert "pool" not in sidecar.get("/health/ready").json()
    pids = [output_of(r, names, publish(r, names, "sleepy", {"seconds": 0}))["pid"] for _ in range(2)]
    assert pids[0] != pids[1]


def test_a_reused_process_gets_each_runs_own_environment_secrets_and_folder(r, names, sidecar_factory):
    sidecar = sidecar_factory(SIDECAR_CONCURRENCY="1", FIRSTSIP_SEAL_KEY=SEAL_KEY_TEXT)
    secret = "tok-" + uuid.uuid4().hex
    first_id = str(uuid.uuid4())
    r.xadd(names.requests, request_fields(first_id, "stateful", {}, secrets=seal({"TOKEN": secret}, SEAL_KEY, first_id)))
    first = output_of(r, names, first_id)
    second = output_of(r, names, publish(r, names, "stateful", {}))
    assert second["pid"] == first["pid"] and second["runs_seen"] == 2, "the run did not reuse the process"
    assert first["leak"] is None and second["leak"] is None, "one run's environment reached the next"
    assert first["secret_names"] == ["TOKEN"] and second["secret_names"] == []
    assert second["cwd"] == first["cwd"] == os.path.join(TEST_PLUGINS, "stateful")
    assert second["env_names"] == first["env_names"]
    assert "STATEFUL_LEAK" not in second["env_names"]
    assert secret not in sidecar.log()


def test_a_pooled_process_keeps_the_last_environment_it_was_sent_and_sets_exactly_that():
    from firstsip_sidecar.pool_process import _Environments, set_environment

    saved = dict(os.environ)
    try:
        envs = _Environments({"START": "1"})
        assert envs.of({"type": "job"}) == {"START": "1"}
        first = envs.of({"type": "job", "env": {"A": "1", "B": "2"}})
        assert envs.of({"type": "job"}) is first, "a job without env did not get the previous one"
        set_environment(first)
        assert dict(os.environ) == {"A": "1", "B": "2"}
        os.environ["LEFT_BY_A_PLUGIN"] = "x"
        set_environment({"A": "1", "B": "3"})
        assert dict(os.environ) == {"A": "1", "B": "3"}
    finally:
        set_environment(saved)
    assert dict(os.environ) == saved


def test_a_run_that_leaves_a_process_behind_does_not_reuse_its_process(r, names, sidecar_factory, tmp_path):
    sidecar_factory(SIDECAR_CONCURRENCY="1")
    first = output_of(r, names, publish(r, names, "stateful", {"orphan_pid_file": str(tmp_path / "orphan.pid")}))
    (orphan,) = read_pids(str(tmp_path / "orphan.pid"))
    assert_all_dead([orphan, first["pid"]])
    second = output_of(r, names, publish(r, names, "stateful", {}))
    assert second["pid"] != first["pid"] and second["runs_seen"] == 1


def test_step_events_of_pooled_runs_belong_to_their_run_and_follow_the_started_event(r, names, sidecar_factory):
    sidecar_factory(SIDECAR_CONCURRENCY="1")
    run_ids = [publish(r, names, "echo", {"steps": ["a", "b"]}) for _ in range(3)]
    for run_id in run_ids:
        output_of(r, names, run_id)
        events = events_for(r, names, run_id)
        assert events[0]["kind"] == "started", "a step event went out before the started event"
        assert [e["step"] for e in events if e["kind"] == "step"] == ["a", "b"]


def test_isolation_is_a_known_manifest_key_with_two_values(tmp_path):
    folder = tmp_path / "iso"
    shutil.copytree(os.path.join(TEST_PLUGINS, "sleepy"), folder)
    text = (folder / "plugin.yaml").read_text().replace("name: sleepy", "name: iso")
    (folder / "plugin.yaml").write_text(text)
    assert load_manifest(str(folder)).isolation == "pool"
    (folder / "plugin.yaml").write_text(text + "isolation: process\n")
    manifest = load_manifest(str(folder))
    assert manifest.isolation == "process" and "isolation" not in manifest.metadata and not manifest.warnings
    (folder / "plugin.yaml").write_text(text + "isolation: thread\n")
    with pytest.raises(ManifestError, match="isolation must be pool or process, not 'thread'"):
        load_manifest(str(folder))


def test_pool_settings_defaults_and_errors():
    settings = Settings.from_env({})
    assert (settings.isolation, settings.pool_max_runs, settings.pool_max_memory_mb) == ("pool", 10000, 1024)
    custom = Settings.from_env({"SIDECAR_ISOLATION": "Process", "SIDECAR_POOL_MAX_RUNS": "0", "SIDECAR_POOL_MAX_MEMORY_MB": "0"})
    assert (custom.isolation, custom.pool_max_runs, custom.pool_max_memory_mb) == ("process", 0, 0)
    with pytest.raises(ConfigurationError, match="SIDECAR_ISOLATION must be pool or process"):
        Settings.from_env({"SIDECAR_ISOLATION": "threads"})
    with pytest.raises(ConfigurationError, match="SIDECAR_POOL_MAX_RUNS must be at least 0"):
        Settings.from_env({"SIDECAR_POOL_MAX_RUNS": "-1"})
