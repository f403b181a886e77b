"""Secrets never reach results, events, dead letters or logs."""

from __future__ import annotations

import json
import uuid

from firstsip_sidecar.redaction import MASK, Redactor, looks_secret, redact_urls
from firstsip_sidecar.sealing import seal
from firstsip_sidecar.types import ExecutionOutcome

from conftest import events_for, pending_count, request_fields, wait_for, wait_result
from test_worker import SEAL_KEY, SEAL_KEY_TEXT


def test_known_values_are_replaced_longest_first():
    redactor = Redactor(["sk-abcdef", "sk-abcdef-longer", "short"])
    assert redactor.values("a sk-abcdef-longer b sk-abcdef c short") == f"a {MASK} b {MASK} c short"
    assert not Redactor(["tiny"]) and Redactor(["long-enough"])


def test_urls_lose_their_credentials_and_secret_parameters():
    text = "see https://bob:pa55word@host.example/x?q=1&api_key=K3y&token=t0k#f and redis://:pw@cache:6379/0"
    assert redact_urls(text) == (
        f"see https://{MASK}@host.example/x?q=1&api_key={MASK}&token={MASK}#f and redis://{MASK}@cache:6379/0"
    )
    assert redact_urls("https://example.com/users/@bob?page=2&sig=abc") == f"https://example.com/users/@bob?page=2&sig={MASK}"
    assert redact_urls("mail bob@example.com, ?keyword=x") == "mail bob@example.com, ?keyword=x"


def test_secret_looking_names():
    assert all(looks_secret(name) for name in ("OPENAI_API_KEY", "GH_TOKEN", "client_secret", "DB_PASSWORD", "AWS_CREDENTIALS"))
    assert not any(looks_secret(name) for name in ("OPENAI_MODEL_NAME", "LANG", "REGION"))


def test_a_runs_redactor_covers_secrets_and_secret_named_variables_only():
    redactor = Redactor.for_run({"ANY": "value-of-secret"}, {"SERVICE_TOKEN": "token-value", "REGION": "eu-west-1"})
    assert redactor.text("value-of-secret token-value eu-west-1") == f"{MASK} {MASK} eu-west-1"


def test_output_stays_valid_json_and_untouched_without_secrets():
    redactor = Redactor(["s3cret-value"])
    clean = '{"a": "b",  "n": 1}'
    assert redactor.output(clean) is clean
    leaked = json.dumps({"x": "with s3cret-value", "s3cret-value": ["s3cret-value\n"], "n": 1.5})
    assert json.loads(redactor.output(leaked)) == {"x": f"with {MASK}", MASK: [f"{MASK}\n"], "n": 1.5}
    outcome = redactor.outcome(ExecutionOutcome.failed("boom s3cret-value at https://u:p@h/?key=abc"))
    assert outcome.error == f"boom {MASK} at https://{MASK}@h/?key={MASK}"


def test_secrets_appear_nowhere_in_streams_or_logs(r, names, sidecar_factory):
    secret = "sk-run-secret-" + uuid.uuid4().hex
    env_secret = "env-secret-" + uuid.uuid4().hex
    sidecar = sidecar_factory(FIRSTSIP_SEAL_KEY=SEAL_KEY_TEXT, LEAKY_SERVICE_TOKEN=env_secret, LEAKY_REGION="eu-west-1",
                              SIDECAR_MAX_DELIVERIES="1")

    failing = str(uuid.uuid4())
    r.xadd(names.requests, request_fields(failing, "leaky", {}, secrets=seal({"API_TOKEN": secret}, SEAL_KEY, failing)))
    returning = str(uuid.uuid4())
    r.xadd(names.requests, request_fields(returning, "leaky", {"output": True},
                                          secrets=seal({"API_TOKEN": secret}, SEAL_KEY, returning)))
    # A request with secrets that is dead-lettered (unknown schema version).
    poisoned = str(uuid.uuid4())
    poison = request_fields(poisoned, "leaky", {}, secrets=seal({"API_TOKEN": secret}, SEAL_KEY, poisoned))
    poison["schema_version"] = "v9"
    dead_id = r.xadd(names.requests, poison)

    error = wait_result(r, names, failing)["error"]
    assert error == (
        f"RuntimeError: GET https://{MASK}@api.example.com/v1?api_key={MASK}&q=1 failed for {MASK}; "
        f"also tried https://{MASK}@mirror.example.com/x?token={MASK}&page=2"
    )
    output = json.loads(wait_result(r, names, returning)["output"])
    assert output == {"note": f"made with {MASK}", "env": MASK, "region": "eu-west-1", MASK: "as a key"}
    steps = [e for e in events_for(r, names, failing) if e["kind"] == "step"]
    assert steps[0]["step"] == f"call-{MASK}"
    assert steps[0]["message"] == f"calling https://api.example.com/?token={MASK} with {MASK}"
    wait_for(lambda: r.xlen(names.dead) == 1 and pending_count(r, names) == 0, 30, "the poison entry dead-lettered")
    dead = r.xrange(names.dead)[0][1]
    assert dead["dead_original_id"] == dead_id and "secrets" not in dead
    assert dead["payload"] == poison["payload"]

    # The plugin's prints and traceback went to the log, redacted (the grandchild's output too).
    wait_for(lambda: "grandchild says" in sidecar.log(), 30, "the plugin's output in the log")
    log = sidecar.log()
    assert f"debug: token {MASK} env {MASK} region eu-west-1" in log
    assert f"grandchild says {MASK}" in log
    for stream in (names.results, names.events, names.dead):
        text = json.dumps(r.xrange(stream))
        assert secret not in text and env_secret not in text, stream
    assert secret not in log and env_secret not in log
