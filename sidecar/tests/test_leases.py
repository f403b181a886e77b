"""Run leases: renewal, taking a lapsed lease again, losing it to another worker, and the
execution's own stop when its lease runs out while the worker's event loop stalls."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from firstsip_sidecar import leases
from firstsip_sidecar.leases import Lease, Renewal, safety_margin_seconds
from firstsip_sidecar.worker import Worker

from conftest import ThreadedWorker, pending_count, publish, results_for, wait_for, wait_result, worker_settings
from test_worker import assert_all_dead, events_for, pid_alive, read_pids


def test_safety_margin_is_a_fifth_bounded_and_never_more_than_half():
    assert safety_margin_seconds(60) == 5.0
    assert safety_margin_seconds(3) == pytest.approx(0.6)
    assert safety_margin_seconds(1) == 0.25
    assert safety_margin_seconds(0.2) == pytest.approx(0.1)


def test_lease_acquire_renew_retake_lose_release(redis_url, names, r):
    async def scenario():
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url)
        key = names.key(str(uuid.uuid4()), "lease")
        try:
            mine = Lease(client, key, "w1:1-0", 2.0)
            other = Lease(client, key, "w2:1-0", 2.0)
            assert mine.child_remaining_ms() == 0
            assert await mine.acquire() is True
            assert await other.acquire() is False
            assert 1000 < mine.child_remaining_ms() <= 1600
            assert await mine.renew() is Renewal.RENEWED
            r.delete(key)
            assert await mine.renew() is Renewal.RETAKEN
            assert r.get(key) == "w1:1-0" and 0 < r.pttl(key) <= 2000
            r.set(key, "w2:1-0", px=60_000)
            assert await mine.renew() is Renewal.LOST and mine.holder == "w2:1-0"
            await mine.release()
            assert r.get(key) == "w2:1-0", "a release never deletes another worker's lease"
            await other.release()
            assert r.exists(key) == 0
        finally:
            await client.close()
            await client.connection_pool.disconnect()

    asyncio.run(scenario())


@pytest.mark.timeout(120)
def test_an_execution_stops_itself_before_its_lease_expires_when_the_worker_stalls(redis_url, names, r, tmp_path, monkeypatch):
    """The worker's event loop blocks in its first renewal; the plugin process must be gone while
    the lease still exists in Redis, so a worker that takes the run over never overlaps with it."""
    stall = threading.Event()
    stalled = []
    real_renew = Lease.renew

    async def stalling_renew(self):
        if stall.is_set() and not stalled:
            stalled.append(time.monotonic())
            time.sleep(6.0)  # a blocked event loop: no renewals, no heartbeats, nothing
        return await real_renew(self)

    monkeypatch.setattr(leases.Lease, "renew", stalling_renew)
    settings = worker_settings(redis_url, names, SIDECAR_CLAIM_TIMEOUT_SECONDS="2", SIDECAR_HEARTBEAT_SECONDS="0.2")
    runner = ThreadedWorker(Worker(settings))
    try:
        run_id = publish(r, names, "sleepy", {"seconds": 60, "pid_file": str(tmp_path / "run.pid")})
        pids = read_pids(str(tmp_path / "run.pid"))
        lease_key = names.key(run_id, "lease")
        assert r.exists(lease_key)
        stall.set()

        end = time.monotonic() + 30
        while True:
            alive = pid_alive(pids[0])
            ttl = r.pttl(lease_key)
            if not alive:
                assert ttl > 0, "the plugin process outlived its lease"
                break
            if ttl == -2:
                assert not pid_alive(pids[0]), "the lease expired in Redis while the plugin process still ran"
                break
            assert time.monotonic() < end, "the plugin process never stopped"
            time.sleep(0.01)
        assert stalled, "the renewal was never stalled"
        assert_all_dead(pids)  # the grandchild too: the whole group
        wait_for(lambda: runner.worker.metrics.get("executions_abandoned") == 1, 30, "the worker to see the stop")
        assert results_for(r, names, run_id) == [], "an execution that outlived its lease published a result"
        assert pending_count(r, names) == 1
    finally:
        runner.close()


def test_a_worker_whose_lease_another_worker_holds_kills_its_execution_and_publishes_nothing(r, names, sidecar_factory, tmp_path):
    sidecar = sidecar_factory(SIDECAR_CLAIM_TIMEOUT_SECONDS="1.5", SIDECAR_CONCURRENCY="1")
    run_id = publish(r, names, "sleepy", {"seconds": 120, "pid_file": str(tmp_path / "run.pid")})
    pids = read_pids(str(tmp_path / "run.pid"))
    lease_key = names.key(run_id, "lease")
    assert r.get(lease_key).startswith(sidecar.consumer + ":")
    # The lease lapsed and another worker took the run over.
    r.set(lease_key, "other-worker:1-0", px=60_000)
    assert_all_dead(pids)
    wait_for(lambda: "ended without a result" in sidecar.log(), 30, "the worker to give the run up")
    log = sidecar.log()
    assert "its lease is held by other-worker:1-0" in log
    assert results_for(r, names, run_id) == []
    assert pending_count(r, names) == 1
    assert not r.exists(names.key(run_id, "done"))
    assert r.get(lease_key) == "other-worker:1-0"
    assert "firstsip_sidecar_executions_abandoned_total 1" in sidecar.get("/metrics").text


def test_a_lapsed_lease_nobody_took_is_taken_again_and_the_run_finishes(r, names, sidecar_factory):
    sidecar = sidecar_factory(SIDECAR_CLAIM_TIMEOUT_SECONDS="1.5", SIDECAR_CONCURRENCY="1")
    run_id = publish(r, names, "echo", {"sleep": 3})
    wait_for(lambda: any(e["kind"] == "started" for e in events_for(r, names, run_id)), 30, "the run to start")
    r.delete(names.key(run_id, "lease"))
    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result["error"]
    assert "its lease had expired and was free; took it again" in sidecar.log()
    assert pending_count(r, names) == 0
