"""The plugin catalog, manifests, settings schemas and the settings."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from firstsip_sidecar import schema
from firstsip_sidecar.errors import ConfigurationError, ManifestError, UnknownPluginError
from firstsip_sidecar.plugins import PluginCatalog, load_manifest, near_miss
from firstsip_sidecar.settings import Settings

from conftest import REAL_PLUGINS, TEST_PLUGINS, VECTORS

MANIFEST = """\
schema_version: 1
name: {name}
description: A plugin.
version: 1.0.0
runtime: python
entry: main:run
"""


def write_plugin(root, name, manifest=None, files=None):
    folder = root / name
    folder.mkdir()
    (folder / "plugin.yaml").write_text(manifest if manifest is not None else MANIFEST.format(name=name))
    (folder / "main.py").write_text("def run(settings, context):\n    return {}\n")
    for path, text in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    return folder


def test_real_plugins_load():
    catalog = PluginCatalog(REAL_PLUGINS)
    assert catalog.names() == ["daily-news-digest", "feed-digest"]
    crew = catalog.get("daily-news-digest")
    assert crew.env == ("OPENAI_API_KEY", "OPENAI_MODEL_NAME", "OPENAI_API_BASE", "SERPER_API_KEY")
    assert crew.runtime == "crewai" and crew.entry == "crew/crew.py:create_crew"
    assert crew.entry_file().endswith(os.path.join("daily-news-digest", "crew", "crew.py"))
    assert crew.timeout_seconds == 300 and "llm" in crew.capabilities
    feed = catalog.get("feed-digest")
    assert feed.runtime == "python" and feed.entry_function() == "run"
    assert feed.validate_settings(feed.merged_settings({})) == []


def test_test_plugins_load():
    assert PluginCatalog(TEST_PLUGINS).names() == ["briefer", "echo", "fails-first", "flaky", "leaky", "original-crewbase", "original-factory", "sleepy", "slowimport", "stateful"]


def test_an_invalid_plugin_is_reported_and_the_others_still_load(tmp_path):
    write_plugin(tmp_path, "good")
    write_plugin(tmp_path, "broken", manifest=MANIFEST.format(name="broken").replace("runtime: python", "runtime: node"))
    catalog = PluginCatalog(str(tmp_path))
    assert catalog.names() == ["good"]
    with pytest.raises(ManifestError) as caught:
        catalog.get("broken")
    assert str(caught.value) == "plugin broken is invalid: runtime must be python or crewai, not 'node'"


def test_unknown_keys_are_kept_as_metadata_and_near_misses_are_warnings(tmp_path, caplog):
    manifest = MANIFEST.format(name="m") + (
        "owner: first-sip\nicon: \"\U0001F4F0\"\ntile_size: \"2x1\"\ndisplay_order: 3\ntimeout_second: 30\nRuntime: crewai\n"
    )
    write_plugin(tmp_path, "m", manifest=manifest)
    with caplog.at_level("WARNING", logger="firstsip.plugins"):
        loaded = PluginCatalog(str(tmp_path)).get("m")
    assert loaded.metadata == {
        "owner": "first-sip", "icon": "\U0001F4F0", "tile_size": "2x1", "display_order": 3, "timeout_second": 30,
        "Runtime": "crewai",
    }
    assert loaded.timeout_seconds is None and loaded.runtime == "python"
    assert loaded.warnings == (
        "plugin.yaml: unknown key 'Runtime' is kept as metadata; did you mean 'runtime'?",
        "plugin.yaml: unknown key 'timeout_second' is kept as metadata; did you mean 'timeout_seconds'?",
    )
    assert "did you mean 'timeout_seconds'" in caplog.text


@pytest.mark.parametrize(
    "key, meant",
    [("timeout_second", "timeout_seconds"), ("entyr", "entry"), ("runtim", "runtime"), ("default_confg", "default_config"),
     ("owner", None), ("icon", None), ("tile_size", None), ("display_order", None), ("envs", "env"), ("colour", None)],
)
def test_near_miss(key, meant):
    assert near_miss(key) == meant


@pytest.mark.parametrize("version", ["1", "v1", "'v1'", "'1'", None])
def test_schema_version_v1_and_1_and_none_are_accepted(tmp_path, version):
    manifest = MANIFEST.format(name="s").replace("schema_version: 1\n", "" if version is None else f"schema_version: {version}\n")
    write_plugin(tmp_path, "s", manifest=manifest)
    assert load_manifest(str(tmp_path / "s")).schema_version == 1


def test_a_folder_with_a_crew_and_no_runtime_is_a_crewai_plugin(tmp_path):
    folder = write_plugin(tmp_path, "o", manifest="name: o\nversion: 1.0.0\nschema_version: v1\nowner: someone\n",
                          files={"crew/crew.py": "def create_crew(settings):\n    return None\n"})
    manifest = load_manifest(str(folder))
    assert (manifest.runtime, manifest.entry) == ("crewai", "crew/crew.py:create_crew")
    assert manifest.entry_file() == str((folder / "crew" / "crew.py").resolve())
    (folder / "crew" / "crew.py").unlink()
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(folder))
    assert "runtime (or a crew/crew.py for a CrewAI plugin)" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/var/lib/evil", "..", ".", "echo/../echo", "ECHO", "echo ", "", "-echo", "%2e%2e", "echo\x00"],
)
def test_names_are_never_paths(name):
    catalog = PluginCatalog(TEST_PLUGINS)
    with pytest.raises(UnknownPluginError) as caught:
        catalog.get(name)
    assert str(caught.value) == f"unknown plugin: {name}"


def test_plugin_added_later_is_found(tmp_path):
    catalog = PluginCatalog(str(tmp_path))
    with pytest.raises(UnknownPluginError):
        catalog.get("late")
    write_plugin(tmp_path, "late")
    assert catalog.get("late").name == "late"


def test_a_folder_symlinked_outside_is_not_a_way_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main.py").write_text("def run(s, c):\n    return 1\n")
    root = tmp_path / "plugins"
    root.mkdir()
    folder = root / "sneaky"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(MANIFEST.format(name="sneaky").replace("main:run", "main:run"))
    os.symlink(outside / "main.py", folder / "main.py")
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(folder))
    assert "outside the plugin folder" in str(caught.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.replace("name: p\n", "name: other\n"), "must equal the folder name"),
        (lambda m: m.replace("schema_version: 1", "schema_version: 2"), "unsupported schema_version 2 (expected 1 or v1)"),
        (lambda m: m.replace("schema_version: 1", "schema_version: v2"), "unsupported schema_version 'v2'"),
        (lambda m: m.replace("runtime: python", "runtime: node"), "runtime must be python or crewai"),
        (lambda m: m.replace("entry: main:run", "entry: ../main:run"), "entry must be module:function"),
        (lambda m: m.replace("entry: main:run\n", ""), "entry is required"),
        (lambda m: m.replace("runtime: python\n", ""), "missing keys in plugin.yaml: runtime"),
        (lambda m: m.replace("name: p\n", ""), "missing keys in plugin.yaml: name"),
        (lambda m: m.replace("version: 1.0.0", "version: [1]"), "version must be text"),
        (lambda m: m + "timeout_seconds: -1\n", "timeout_seconds must be a positive number"),
        (lambda m: m + "capabilities: network\n", "capabilities must be a list"),
        (lambda m: m + "default_config: [1]\n", "default_config must be a mapping"),
        (lambda m: m + "env: OPENAI_API_KEY\n", "env must be a list of environment variable names"),
        (lambda m: m + "env: [OK, 9LIVES]\n", "env must be a list of environment variable names"),
        (lambda m: m + "env: [OK, [nested]]\n", "env must be a list of environment variable names"),
        (lambda m: m + "queue_timeout_seconds: 0\n", "queue_timeout_seconds must be a positive number"),
        (lambda m: m + "deadline_seconds: soon\n", "deadline_seconds must be a positive number"),
        (lambda m: m + "settings_schema_path: ../schema.json\n", "outside the plugin folder"),
        (lambda m: m + "settings_schema_path: missing.json\n", "is missing"),
        (lambda m: "- just\n- a list\n", "must be a mapping"),
        (lambda m: "name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_manifests_fail_with_the_reason(tmp_path, change, message):
    folder = write_plugin(tmp_path, "p", manifest=change(MANIFEST.format(name="p")))
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(folder))
    assert message in str(caught.value)


def test_crewai_entry_defaults_and_schema_check(tmp_path):
    manifest = MANIFEST.format(name="c").replace("runtime: python", "runtime: crewai").replace("entry: main:run\n", "")
    folder = write_plugin(tmp_path, "c", manifest=manifest + "settings_schema_path: s.json\n",
                          files={"s.json": json.dumps({"type": "object", "if": {"required": ["a"]}})})
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(folder))
    assert "unsupported keyword 'if'" in str(caught.value)
    (folder / "s.json").write_text(json.dumps({"type": "object", "properties": {"a": {"type": "nope"}}}))
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(folder))
    assert "#/properties/a/type" in str(caught.value)
    (folder / "s.json").write_text(json.dumps({"type": "object"}))
    assert load_manifest(str(folder)).entry == "crew/crew.py:create_crew"


def test_settings_schema_file_is_found_by_its_default_name(tmp_path):
    folder = write_plugin(tmp_path, "d", files={"settings.schema.json": json.dumps({"type": "object", "required": ["x"]})})
    manifest = load_manifest(str(folder))
    assert manifest.settings_schema_path == "settings.schema.json"
    assert manifest.validate_settings({}) == [("x", "is required")]


def test_description_and_version_are_optional(tmp_path):
    folder = write_plugin(tmp_path, "m", manifest="schema_version: 1\nname: m\nruntime: python\nentry: main:run\n")
    manifest = load_manifest(str(folder))
    assert (manifest.description, manifest.version, manifest.capabilities, manifest.default_config) == ("", "", (), {})


def test_default_config_is_merged_under_the_runs_settings():
    echo = PluginCatalog(TEST_PLUGINS).get("echo")
    assert echo.merged_settings({"sleep": 1}) == {"greeting": "hello", "sleep": 1}
    assert echo.merged_settings({"greeting": "hi"}) == {"greeting": "hi"}


def test_request_vector_settings_validate_against_the_daily_news_digest_schema():
    crew = PluginCatalog(REAL_PLUGINS).get("daily-news-digest")
    with open(os.path.join(VECTORS, "requests.json"), encoding="utf-8") as handle:
        cases = json.load(handle)["cases"]
    checked = 0
    for case in cases:
        payload = case.get("expect")
        if payload and payload["plugin_name"] == "daily-news-digest":
            assert crew.validate_settings(crew.merged_settings(payload["settings"])) == [], case["name"]
            checked += 1
    assert checked >= 5


def test_daily_news_digest_schema_rejects_bad_settings():
    crew = PluginCatalog(REAL_PLUGINS).get("daily-news-digest")
    errors = crew.validate_settings(
        {"topics": [], "summary_length": "huge", "frequency": "hourly", "preferred_time": "25:00"}
    )
    assert [path for path, _ in errors] == ["frequency", "preferred_time", "summary_length", "topics"]
    errors = crew.validate_settings({"topics": ["x"] * 11})
    assert errors == [("topics", "must have at most 10 items")]


def test_schema_validator_reports_every_failure():
    spec = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {
            "a": {"type": "integer", "minimum": 1, "maximum": 3},
            "b": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^x", "format": "uri"},
            "c": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 1},
            "d": {"type": ["string", "null"], "enum": ["y", None]},
        },
    }
    assert schema.check_schema(spec) == []
    assert schema.validate({"a": 2, "b": "x:y", "c": [1.5], "d": None}, spec) == []
    errors = schema.validate({"b": "abcd", "c": ["n", 2], "d": "z", "e": 1}, spec)
    assert ("a", "is required") in errors
    assert {path for path, _ in errors} == {"a", "b", "c", "c[0]", "d", "e"}
    assert schema.validate({"a": True}, spec) == [("a", "must be an integer")]
    assert schema.validate({"a": 9}, spec) == [("a", "must be at most 3")]
    assert schema.validate({"a": 2, "b": "x:email"}, {**spec, "properties": {**spec["properties"], "b": {"format": "email"}}}) == [
        ("b", "must be a valid email")
    ]


def test_settings_from_env_defaults_and_overrides():
    defaults = Settings.from_env({})
    assert defaults.redis.url == "redis://localhost:6379"
    assert defaults.plugin_dir == "./plugins" and defaults.default_timeout_seconds == 300
    assert defaults.concurrency == len(os.sched_getaffinity(0))
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)
    assert defaults.requests_stream == "plugin:requests" and defaults.dead_letter_stream == "plugin:requests:dead"
    assert defaults.worker_group == "crewai-workers" and defaults.key_prefix == "firstsip:"
    assert defaults.seal_key is None and defaults.max_deliveries == 5 and defaults.heartbeat_seconds == 5
    key = bytes(range(32))
    import base64

    custom = Settings.from_env(
        {
            "REDIS_URL": "redis://user:pw@cache:6380/2", "CREW_TIMEOUT_SECONDS": "12", "SIDECAR_CONCURRENCY": "3",
            "FIRSTSIP_SEAL_KEY": base64.b64encode(key).decode(), "SIDECAR_CLAIM_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert (custom.redis.host, custom.redis.port) == ("cache", 6380)
    assert custom.default_timeout_seconds == 12 and custom.concurrency == 3 and custom.seal_key == key
    assert custom.renew_interval_seconds == pytest.approx(0.5)
    assert "pw" not in repr(custom.seal_key) and "seal_key" not in repr(custom)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SIDECAR_CONCURRENCY": "0"}, "SIDECAR_CONCURRENCY must be at least 1"),
        ({"CREW_TIMEOUT_SECONDS": "soon"}, "CREW_TIMEOUT_SECONDS must be a number"),
        ({"FIRSTSIP_SEAL_KEY": "c2hvcnQ="}, "FIRSTSIP_SEAL_KEY must be 32 bytes"),
        ({"FIRSTSIP_SEAL_KEY": "***"}, "FIRSTSIP_SEAL_KEY must be base64"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a redis://"),
    ],
)
def test_settings_errors_are_clear(env, message):
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value)


def test_manifest_docs_example_is_valid(tmp_path):
    text = textwrap.dedent(
        """\
        schema_version: 1
        name: sample
        description: One line.
        version: 1.0.0
        runtime: python
        entry: main:run
        timeout_seconds: 120
        settings_schema_path: settings.schema.json
        capabilities: [network]
        default_config: {feeds: [a]}
        """
    )
    folder = write_plugin(tmp_path, "sample", manifest=text, files={"settings.schema.json": '{"type": "object"}'})
    manifest = load_manifest(str(folder))
    assert manifest.capabilities == ("network",) and manifest.default_config == {"feeds": ["a"]}


def test_env_and_the_apps_limits_are_known_manifest_keys(tmp_path):
    manifest = MANIFEST.format(name="e") + "env: [API_TOKEN, _X1, API_TOKEN]\nqueue_timeout_seconds: 600\ndeadline_seconds: 3600.5\n"
    loaded = load_manifest(str(write_plugin(tmp_path, "e", manifest=manifest)))
    assert loaded.env == ("API_TOKEN", "_X1")
    assert loaded.queue_timeout_seconds == 600.0 and loaded.deadline_seconds == 3600.5
    assert load_manifest(str(write_plugin(tmp_path, "f"))).env == ()


def test_lookup_answers_known_names_at_once_and_scans_in_a_thread(tmp_path, monkeypatch):
    import asyncio
    import threading

    write_plugin(tmp_path, "good")
    catalog = PluginCatalog(str(tmp_path))
    scanned_in = []
    real_scan = PluginCatalog._scan

    def recording_scan(self):
        scanned_in.append(threading.current_thread() is threading.main_thread())
        real_scan(self)

    monkeypatch.setattr(PluginCatalog, "_scan", recording_scan)

    async def scenario():
        assert (await catalog.lookup("good")).name == "good"
        assert scanned_in == []
        write_plugin(tmp_path, "later")
        assert (await catalog.lookup("later")).name == "later"
        with pytest.raises(UnknownPluginError):
            await catalog.lookup("absent")
        with pytest.raises(UnknownPluginError):
            await catalog.lookup("../etc")

    asyncio.run(scenario())
    assert scanned_in == [False, False]


def test_concurrent_lookups_of_unknown_names_share_one_scan(tmp_path, monkeypatch):
    import asyncio
    import threading

    catalog = PluginCatalog(str(tmp_path))
    gate = threading.Event()
    scans = []
    real_scan = PluginCatalog._scan

    def slow_scan(self):
        scans.append(1)
        gate.wait(10)
        real_scan(self)

    monkeypatch.setattr(PluginCatalog, "_scan", slow_scan)
    arrived = []
    real_wait = PluginCatalog._scan_unless_done_since

    def counting_wait(self, seen):
        arrived.append(seen)
        real_wait(self, seen)

    monkeypatch.setattr(PluginCatalog, "_scan_unless_done_since", counting_wait)

    async def scenario():
        first = asyncio.ensure_future(catalog.lookup("missing-a"))
        while not scans:
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(catalog.lookup(f"missing-{i}")) for i in range(4)]
        while len(arrived) < 5:  # every lookup saw the same scan count and waits for the scan lock
            await asyncio.sleep(0.01)
        gate.set()
        return await asyncio.gather(first, *others, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(outcome, UnknownPluginError) for outcome in outcomes)
    assert len(set(arrived)) == 1
    assert len(scans) == 1


def test_a_slow_catalog_scan_does_not_hold_up_other_runs_or_heartbeats(redis_url, names, r, tmp_path, monkeypatch):
    """An unknown plugin name makes the catalog scan its folder; while that takes seconds, the
    event loop keeps serving: heartbeats of a running run and a whole other run go on."""
    import asyncio
    import time

    from firstsip_sidecar.worker import Worker

    from conftest import events_for, publish, results, results_for, worker_settings

    scanning = []
    real_scan = PluginCatalog._scan

    def slow_scan(self):
        if self.slow:
            scanning.append(time.time())
            time.sleep(3.0)
        real_scan(self)

    monkeypatch.setattr(PluginCatalog, "_scan", slow_scan)
    catalog = PluginCatalog(TEST_PLUGINS, scan=False)
    catalog.slow = False
    catalog.scan()
    catalog.slow = True

    async def scenario():
        settings = worker_settings(redis_url, names, SIDECAR_CONCURRENCY="3", SIDECAR_HEARTBEAT_SECONDS="0.1")
        worker = Worker(settings, catalog=catalog)
        await worker.start()
        try:
            sleeper = publish(r, names, "sleepy", {"seconds": 8})
            while not any(e["kind"] == "heartbeat" for e in events_for(r, names, sleeper)):
                await asyncio.sleep(0.05)
            unknown = publish(r, names, "no-such-plugin", {})
            while not scanning:
                await asyncio.sleep(0.01)
            quick = publish(r, names, "echo", {})
            while len(results_for(r, names, unknown)) < 1:
                await asyncio.sleep(0.05)
            return sleeper, unknown, quick
        finally:
            await asyncio.wait_for(worker.stop(grace_seconds=0), timeout=30)

    sleeper, unknown, quick = asyncio.run(scenario())
    order = [result["plugin_run_id"] for result in results(r, names)]
    assert order.index(quick) < order.index(unknown), "a run waited for the catalog scan"
    assert results_for(r, names, unknown)[0]["error"] == "unknown plugin: no-such-plugin"
    assert results_for(r, names, quick)[0]["status"] == "completed"
    start = scanning[0] * 1000
    beats = [e["at"] for e in events_for(r, names, sleeper) if e["kind"] == "heartbeat" and e["at"] >= start - 500]
    window = [at for at in beats if at <= start + 3000]
    assert len(window) >= 10, "heartbeats stopped while the catalog scanned"
    assert max(b - a for a, b in zip(beats, beats[1:])) < 1000
