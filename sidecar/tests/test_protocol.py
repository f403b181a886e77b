"""The wire protocol: every request vector, sealed secrets, the Markdown-to-briefing rule, keys."""

from __future__ import annotations

import base64
import json
import os

import pytest

from firstsip_sidecar import protocol
from firstsip_sidecar.errors import PoisonEntry, SecretsError
from firstsip_sidecar.sealing import open_secrets, seal
from firstsip_sidecar.types import ExecutionOutcome

from conftest import VECTORS


def load_cases(name: str):
    with open(os.path.join(VECTORS, name), "r", encoding="utf-8") as handle:
        return json.load(handle)["cases"]


REQUEST_CASES = load_cases("requests.json")


def test_vectors_are_loaded():
    assert len(REQUEST_CASES) >= 15


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[case["name"] for case in REQUEST_CASES])
def test_parse_request_vector(case):
    fields = case["fields"]
    if "poison" in case:
        with pytest.raises(PoisonEntry) as caught:
            protocol.parse_request(fields)
        assert case["poison"] in caught.value.reason
        assert caught.value.run_id == case.get("run_id")
        return
    request = protocol.parse_request(fields)
    if "expect" in case:
        expect = case["expect"]
        assert request.run_id == expect["plugin_run_id"]
        assert request.plugin_name == expect["plugin_name"]
        assert request.user_id == expect["user_id"]
        assert request.settings == expect["settings"]
        assert request.attempt == expect.get("attempt", 1)
        assert request.traceparent == expect.get("traceparent")
    else:
        # failed / poison_or_failed cases parse; the run then fails in the worker (test_worker).
        assert request.run_id == case["run_id"]


def test_parse_request_accepts_bytes_and_optional_fields():
    fields = {
        b"payload": json.dumps({"plugin_run_id": "3F2B8C1E-9A4D-4C6B-8F0E-2D7A1B5C9E40", "plugin_name": "echo"}).encode(),
        b"schema_version": b"v1",
        b"deadline": b"1771469823000",
        b"timeout_seconds": b"12.5",
        b"secrets": b"v1.abc",
    }
    request = protocol.parse_request(fields)
    assert request.run_id == "3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40"
    assert request.raw_run_id == "3F2B8C1E-9A4D-4C6B-8F0E-2D7A1B5C9E40"
    assert request.settings == {}
    assert request.deadline_ms == 1771469823000
    assert request.timeout_seconds == 12.5
    assert request.secrets == "v1.abc"
    assert "v1.abc" not in repr(request)


def test_parse_request_rejects_non_uuid_run_id():
    fields = {"payload": json.dumps({"plugin_run_id": "42", "plugin_name": "echo"}), "schema_version": "v1"}
    with pytest.raises(PoisonEntry) as caught:
        protocol.parse_request(fields)
    assert caught.value.reason == "plugin_run_id is required"


def test_run_keys_and_channel():
    assert protocol.run_key("firstsip:", "abc", "lease") == "firstsip:run:abc:lease"
    assert protocol.cancel_channel("firstsip:") == "firstsip:cancel"


def test_result_fields_follow_the_contract():
    fields = protocol.result_fields("r1", ExecutionOutcome.failed("boom", retryable=True), worker="w", attempt=2, duration_ms=5)
    payload = json.loads(fields["payload"])
    assert payload == {
        "plugin_run_id": "r1", "status": "failed", "output": None, "error": "boom", "retryable": True, "kind": "failed",
    }
    assert fields["schema_version"] == "v1" and fields["worker"] == "w" and fields["attempt"] == "2" and fields["duration_ms"] == "5"
    completed = json.loads(protocol.result_fields("r1", ExecutionOutcome.completed('{"a":1}'), worker="w")["payload"])
    assert completed == {"plugin_run_id": "r1", "status": "completed", "output": '{"a":1}', "error": None}


def test_event_fields_follow_the_contract():
    fields = protocol.event_fields("r1", "step", worker="w", attempt=1, step="research_task", message="done")
    payload = json.loads(fields["payload"])
    assert payload["kind"] == "step" and payload["step"] == "research_task" and payload["message"] == "done"
    assert isinstance(payload["at"], int) and payload["at"] > 1_700_000_000_000
    assert "traceparent" not in fields


def test_event_fields_carry_the_trace_context_when_given():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    fields = protocol.event_fields("r1", "started", worker="w", attempt=1, traceparent=parent)
    assert fields["traceparent"] == parent


def test_markdown_to_briefing():
    markdown = "# Title\n\n## \n\nFirst paragraph\nspans two lines.\n\nSecond.\n\n## One\n\nText one.\n\n## Two\nText two.\n"
    briefing = protocol.markdown_to_briefing(markdown)
    assert briefing["summary"] == "First paragraph\nspans two lines."
    assert [s["title"] for s in briefing["sections"]] == ["", "One", "Two"]
    assert briefing["sections"][1]["content"] == "Text one."
    assert briefing["sections"][2]["content"] == "Text two."


def test_markdown_without_sections():
    assert protocol.markdown_to_briefing("Just text.") == {"summary": "Just text.", "sections": []}


KEY = bytes(range(32))
RUN = "3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40"


def test_sealed_secrets_round_trip():
    text = seal({"OPENAI_API_KEY": "sk-secret", "ö": "ü"}, KEY, RUN)
    assert text.startswith("v1.")
    blob = base64.b64decode(text[3:])
    assert len(blob) == 12 + len(json.dumps({"OPENAI_API_KEY": "sk-secret", "ö": "ü"}, ensure_ascii=False, separators=(",", ":")).encode()) + 16
    assert open_secrets(text, KEY, RUN) == {"OPENAI_API_KEY": "sk-secret", "ö": "ü"}


def test_sealed_secrets_known_vector():
    # Built by hand from the format: nonce 000102..0b, key 00..1f, associated data = the run id.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(range(12))
    sealed = AESGCM(KEY).encrypt(nonce, b'{"K":"v"}', RUN.encode())
    text = "v1." + base64.b64encode(nonce + sealed).decode()
    assert open_secrets(text, KEY, RUN) == {"K": "v"}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda text: (text, None, RUN), "no FIRSTSIP_SEAL_KEY"),
        (lambda text: (text, bytes(32), RUN), "authentication failed"),
        (lambda text: (text, KEY, "00000000-0000-0000-0000-000000000000"), "authentication failed"),
        (lambda text: (text[:-6] + ("AAAAAA" if not text.endswith("AAAAAA") else "BBBBBB"), KEY, RUN), "authentication failed"),
        (lambda text: ("v2." + text[3:], KEY, RUN), "unsupported format"),
        (lambda text: ("v1.@@@", KEY, RUN), "not base64"),
        (lambda text: ("v1.AAAA", KEY, RUN), "too short"),
    ],
    ids=["no-key", "wrong-key", "other-run", "tampered", "version", "not-base64", "short"],
)
def test_sealed_secrets_fail_clearly(mutate, expected):
    text, key, run = mutate(seal({"TOKEN": "s3cr3t-value"}, KEY, RUN))
    with pytest.raises(SecretsError) as caught:
        open_secrets(text, key, run)
    assert expected in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)
