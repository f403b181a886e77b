"""Results, done markers, dead letters and Retry(defer=...) as the app receives them."""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid

import pytest

from firstsip_sidecar import protocol
from firstsip_sidecar.errors import Retry
from firstsip_sidecar.executor import retry_delay_ms
from firstsip_sidecar.metrics import Metrics
from firstsip_sidecar.outcomes import Outcomes
from firstsip_sidecar.types import ExecutionOutcome

from conftest import pending_count, publish, request_fields, results_for, wait_result, worker_settings


def test_retry_defer_accepts_seconds_and_timedeltas():
    assert Retry(defer=2.5).defer == 2.5
    assert Retry(defer=datetime.timedelta(minutes=1)).defer == 60.0
    assert Retry(defer=-3).defer == 0.0
    assert [retry_delay_ms(value) for value in (7, 0.0015, 0, None, "x", float("inf"))] == [7000, 2, None, None, None, None]


def test_failed_results_carry_kind_and_retry_delay():
    def payload(outcome):
        return json.loads(protocol.result_fields("r", outcome, worker="w")["payload"])

    assert payload(ExecutionOutcome.failed("x", kind="retry", retryable=True, retry_delay_ms=7000)) == {
        "plugin_run_id": "r", "status": "failed", "output": None, "error": "x", "retryable": True,
        "retry_delay_ms": 7000, "kind": "failed",
    }
    for kind in ("timed_out", "not_started", "cancelled", "failed"):
        assert payload(ExecutionOutcome.failed("x", kind=kind))["kind"] == kind
    assert payload(ExecutionOutcome.stopped("user asked"))["error"] == "cancelled: user asked"
    assert "kind" not in payload(ExecutionOutcome.completed("{}"))


@pytest.mark.parametrize(
    "done, attempt, blocks",
    [(None, 1, False), ("final:1", 1, True), ("final:1", 5, True), ("retry:2", 2, True), ("retry:2", 1, True),
     ("retry:2", 3, False), ("garbage", 9, True)],
)
def test_done_markers(done, attempt, blocks):
    assert protocol.done_blocks(done, attempt) is blocks


def test_a_final_done_marker_is_never_replaced(redis_url, names, r):
    from firstsip_sidecar.connections import close_client, create_client

    run_id = str(uuid.uuid4())
    steps = (
        (1, ExecutionOutcome.failed("again", kind="retry", retryable=True)),
        (2, ExecutionOutcome.completed("{}")),
        (1, ExecutionOutcome.failed("late", kind="retry", retryable=True)),
        (3, ExecutionOutcome.stopped("late")),
    )

    async def scenario():
        settings = worker_settings(redis_url, names)
        client = create_client(settings)
        outcomes = Outcomes(client, settings, "w", Metrics())
        markers = []
        try:
            await client.xgroup_create(names.requests, names.group, id="0", mkstream=True)
            for attempt, outcome in steps:
                fields = request_fields(run_id, "echo", attempt=attempt)
                entry = (await client.xadd(names.requests, fields)).decode()
                await client.xreadgroup(names.group, "w", {names.requests: ">"})
                await outcomes.publish(entry, protocol.parse_request(fields), outcome)
                markers.append((await client.get(names.key(run_id, "done"))).decode())
        finally:
            await close_client(client)
        return markers

    assert asyncio.run(scenario()) == ["retry:1", "final:2", "final:2", "final:2"]
    assert len(results_for(r, names, run_id)) == 4 and pending_count(r, names) == 0


def test_a_settled_request_hands_its_slot_to_the_next_requests(redis_url, names, r):
    """publish(take=n) reads up to n new requests for the consumer in the settling step; they are pending on it."""
    from firstsip_sidecar.connections import close_client, create_client

    run_ids = [str(uuid.uuid4()) for _ in range(4)]

    async def scenario():
        settings = worker_settings(redis_url, names)
        client = create_client(settings)
        outcomes = Outcomes(client, settings, "w", Metrics())
        try:
            await client.xgroup_create(names.requests, names.group, id="0", mkstream=True)
            entries = [(await client.xadd(names.requests, request_fields(run_id, "echo"))).decode() for run_id in run_ids]
            (_, ((first, fields),)), = await client.xreadgroup(names.group, "w", {names.requests: ">"}, count=1)
            settle = ExecutionOutcome.completed("{}")
            taken = await outcomes.publish(first.decode(), protocol.parse_request(fields), settle, take=2)
            rest = await outcomes.publish(taken[0][0], protocol.parse_request(taken[0][1]), settle, take=5)
            none = await outcomes.publish(taken[1][0], protocol.parse_request(taken[1][1]), settle, take=0)
            last = await outcomes.publish(rest[0][0], protocol.parse_request(rest[0][1]), settle, take=1)
            return entries, taken, rest, none, last
        finally:
            await close_client(client)

    entries, taken, rest, none, last = asyncio.run(scenario())
    assert [entry for entry, _ in taken] == entries[1:3] and [entry for entry, _ in rest] == entries[3:]
    assert none == [] and last == []
    assert protocol.parse_request(taken[0][1]).run_id == run_ids[1]
    assert [json.loads(result["output"]) for result in (wait_result(r, names, run_id) for run_id in run_ids)] == [{}] * 4
    assert pending_count(r, names) == 0


def test_dead_letters_drop_the_secrets_field(redis_url, names, r):
    async def scenario():
        settings = worker_settings(redis_url, names)
        from firstsip_sidecar.connections import close_client, create_client

        client = create_client(settings)
        try:
            await client.xgroup_create(names.requests, names.group, id="0", mkstream=True)
            fields = {b"payload": b"{}", b"schema_version": b"v1", b"secrets": b"v1.sealed", b"attempt": b"2"}
            entry = (await client.xadd(names.requests, fields)).decode()
            await client.xreadgroup(names.group, "w", {names.requests: ">"})
            await Outcomes(client, settings, "w", Metrics()).dead_letter(entry, fields, "plugin_run_id is required", None, None)
        finally:
            await close_client(client)

    asyncio.run(scenario())
    dead = r.xrange(names.dead)[0][1]
    assert "secrets" not in dead and dead["attempt"] == "2" and dead["dead_reason"] == "plugin_run_id is required"


def test_retry_defer_reaches_the_result_as_retry_delay_ms(r, names, sidecar_factory):
    sidecar_factory()
    seconds = publish(r, names, "flaky", {"fail": "retry", "defer": 2.25})
    timedelta = publish(r, names, "flaky", {"fail": "retry", "defer": 90, "defer_as": "timedelta"})
    plain = publish(r, names, "flaky", {"fail": "error"})
    first = wait_result(r, names, seconds)
    assert first["retryable"] is True and first["retry_delay_ms"] == 2250 and first["kind"] == "failed"
    assert wait_result(r, names, timedelta)["retry_delay_ms"] == 90_000
    error = wait_result(r, names, plain)
    assert error["retryable"] is False and "retry_delay_ms" not in error and error["kind"] == "failed"
    assert r.get(names.key(seconds, "done")) == "retry:1"
    assert len(results_for(r, names, seconds)) == 1
