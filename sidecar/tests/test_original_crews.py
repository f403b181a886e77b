"""Crews in the original system's formats, built and run with the stub ``crewai`` (tests/stubs)."""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid

import pytest

from firstsip_sidecar import credentials, crews
from firstsip_sidecar.context import PluginContext
from firstsip_sidecar.plugins import PluginCatalog
from firstsip_sidecar.runner import load_module
from firstsip_sidecar.sealing import seal

from conftest import STUBS, TEST_PLUGINS, events_for, wait_result

KEY = bytes(range(7, 39))


@pytest.fixture
def stub_crewai(monkeypatch):
    monkeypatch.syspath_prepend(STUBS)
    for name in [n for n in sys.modules if n == "crewai" or n.startswith(("crewai.", "crewai_tools"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)


def context(secrets=None, steps=None):
    return PluginContext(
        run_id="r", attempt=1, plugin_dir="/", secrets=secrets or {}, deadline=time.time() + 60,
        report=None if steps is None else (lambda name, message: steps.append(name)),
    )


def factory(name):
    manifest = PluginCatalog(TEST_PLUGINS).get(name)
    module = load_module(f"test_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}", manifest.entry_file(), manifest.directory)
    return module, getattr(module, manifest.entry_function())


def test_original_manifests_load_with_their_metadata():
    catalog = PluginCatalog(TEST_PLUGINS)
    crewbase = catalog.get("original-crewbase")
    assert (crewbase.runtime, crewbase.entry) == ("crewai", "crew/crew.py:create_crew")
    assert crewbase.metadata == {"owner": "first-sip", "icon": "🗞️", "tile_size": "1x1"}
    assert crewbase.warnings == ()
    assert catalog.get("original-factory").metadata["display_order"] == 2


def test_a_crewbase_crew_builds_from_its_yaml_and_reports_each_task(stub_crewai):
    module, create = factory("original-crewbase")
    steps = []
    settings = {"topics": ["science"], "summary_length": "brief", "frequency": "daily", "preferred_time": "07:30"}
    crew = crews.create(create, settings, context(steps=steps))
    output = crew.kickoff(inputs=crews.kickoff_inputs(module, settings))
    assert [t.name for t in crew.tasks] == ["gather_task", "digest_task"]
    assert [a.role for a in crew.agents] == ["Morning news scout for ['science']", "Morning digest editor"]
    assert crew.tasks[1].context == [crew.tasks[0]] and crew.tasks[1].agent is crew.agents[1]
    assert steps == ["gather_task", "digest_task"]
    assert output.raw.startswith("# Crew digest")


def test_the_llm_and_search_tool_are_built_as_the_original_executor_built_them(stub_crewai):
    _, create = factory("original-factory")
    secrets = {"_llm_api_key": "sk-run-key-123456", "_tavily_api_key": "tvly-run-key-123456"}
    crew = crews.create(create, {"topics": ["technology"], "_llm_model": "anthropic/claude-sonnet-4-5"}, context(secrets))
    analyst, writer = crew.agents
    assert analyst.llm is writer.llm
    assert (analyst.llm.model, analyst.llm.kwargs) == (
        "anthropic/claude-sonnet-4-5", {"api_key": "sk-run-key-123456", "max_tokens": 4096}
    )
    assert [type(t).__name__ for t in analyst.tools] == ["TavilySearchTool"] and analyst.tools[0].has_key
    assert writer.tools == []


def test_without_credentials_the_factory_gets_no_llm_and_no_search_tool(stub_crewai):
    _, create = factory("original-factory")
    crew = crews.create(create, {"topics": ["technology"], "_llm_model": "openai/gpt-4o-mini"}, context())
    assert crew.agents[0].llm is None and crew.agents[0].tools == []  # no langchain_community here


def test_a_settings_only_factory_gets_the_runs_llm_on_its_agents(stub_crewai):
    _, create = factory("original-crewbase")
    crew = crews.create(create, {"topics": ["health"]}, context({"_llm_api_key": "sk-abcdefgh", "_llm_model": "openai/gpt-4o-mini"}))
    assert {a.llm.model for a in crew.agents} == {"openai/gpt-4o-mini"}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def create_crew(settings, context):\n    return ('ctx', settings, context is not None)\n", "ctx"),
        ("def create_crew(settings, ctx):\n    return ('ctx', settings, ctx is not None)\n", "ctx"),
        ("def create_crew(settings, llm=None, search_tool=None):\n    return ('orig', settings, llm)\n", "orig"),
        ("def create_crew(settings, **kwargs):\n    return ('kw', settings, sorted(kwargs))\n", "kw"),
        ("def create_crew(settings):\n    return ('one', settings, None)\n", "one"),
    ],
)
def test_the_factory_is_called_by_its_signature(tmp_path, source, expected):
    path = tmp_path / "crew.py"
    path.write_text(source)
    module = load_module(f"sig_{uuid.uuid4().hex[:8]}", str(path), str(tmp_path))
    kind, settings, extra = crews.create(module.create_crew, {"a": 1, "_llm_model": "m"}, context())
    assert kind == expected
    assert settings == ({"a": 1, "_llm_model": "m"} if kind == "ctx" else {"a": 1})
    if kind == "kw":
        assert extra == ["llm", "search_tool"]


def test_credentials_among_the_settings_are_moved_unless_the_schema_declares_them():
    kept, moved = credentials.split(
        {"topics": ["x"], "_llm_api_key": "k", "_llm_model": "m", "_n": 3, "_none": None},
        {"properties": {"topics": {}, "_llm_model": {}}},
    )
    assert kept == {"topics": ["x"], "_llm_model": "m"}
    assert moved == {"_llm_api_key": "k", "_n": "3"}
    assert credentials.crew_fallbacks({"_llm_api_key": "run"}, {"FIRSTSIP_LLM_API_KEY": "env", "FIRSTSIP_LLM_MODEL": "mm"}) == {
        "_llm_model": "mm"
    }


GO_SETTINGS = {"frequency": "daily", "preferred_time": "18:00", "topics": ["technology", "science"], "summary_length": "brief",
               "_llm_model": "openai/gpt-4o-mini"}


def test_a_request_as_the_original_app_wrote_it_completes_and_its_credentials_go_nowhere(r, names, sidecar_factory, tmp_path):
    record = tmp_path / "crew.json"
    sidecar = sidecar_factory(CREWAI_STUB_RECORD=str(record), SIDECAR_PLUGIN_ENV="CREWAI_STUB_RECORD")
    llm_key, tavily_key = "sk-go-" + uuid.uuid4().hex, "tvly-go-" + uuid.uuid4().hex
    run_id = str(uuid.uuid4())
    # Exactly the original's request: an integer user_id, no attempt, no deadline, credentials among the settings.
    payload = {"plugin_run_id": run_id, "plugin_name": "original-factory", "user_id": 42,
               "settings": {**GO_SETTINGS, "_llm_api_key": llm_key, "_tavily_api_key": tavily_key}}
    r.xadd(names.requests, {"payload": json.dumps(payload), "published_at": str(int(time.time())), "schema_version": "v1"})

    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result["error"]
    briefing = json.loads(result["output"])
    assert briefing["summary"] == "The stub crew ran 2 tasks for ['technology', 'science']." and len(briefing["sections"]) == 2
    assert [e["step"] for e in events_for(r, names, run_id) if e["kind"] == "step"] == ["task_1", "task_2"]
    built = json.loads(record.read_text())
    assert built["inputs"] == {k: v for k, v in GO_SETTINGS.items() if not k.startswith("_")}
    assert built["agents"][0]["llm"] == "openai/gpt-4o-mini" and built["agents"][0]["llm_options"] == ["api_key"]
    assert built["agents"][0]["tools"] == ["TavilySearchTool"]

    for stream in (names.results, names.events, names.requests + ":dead"):
        for _, fields in r.xrange(stream):
            text = json.dumps(fields)
            assert llm_key not in text and tavily_key not in text, stream
    assert llm_key not in sidecar.log() and tavily_key not in sidecar.log()


def test_a_crewbase_crew_runs_in_the_sidecar_with_sealed_credentials(r, names, sidecar_factory, tmp_path):
    record = tmp_path / "crew.json"
    sidecar_factory(FIRSTSIP_SEAL_KEY=base64.b64encode(KEY).decode(), CREWAI_STUB_RECORD=str(record),
                    SIDECAR_PLUGIN_ENV="CREWAI_STUB_RECORD", FIRSTSIP_LLM_MODEL="groq/llama-3.1-8b-instant")
    run_id = str(uuid.uuid4())
    fields = {"payload": json.dumps({"plugin_run_id": run_id, "plugin_name": "original-crewbase", "user_id": 42,
                                     "settings": {"topics": ["health"], "reply_to": "desk@example.com"}}),
              "published_at": str(int(time.time())), "schema_version": "v1",
              "secrets": seal({"_llm_api_key": "sk-sealed-0123456789"}, KEY, run_id)}
    r.xadd(names.requests, fields)

    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result["error"]
    assert [e["step"] for e in events_for(r, names, run_id) if e["kind"] == "step"] == ["gather_task", "digest_task"]
    built = json.loads(record.read_text())
    assert [t["name"] for t in built["tasks"]] == ["gather_task", "digest_task"]
    assert built["inputs"] == {"topics": ["health"], "reply_to": "desk@example.com", "frequency": "daily", "preferred_time": "07:30"}
    assert {a["llm"] for a in built["agents"]} == {"groq/llama-3.1-8b-instant"}


def test_the_format_example_fails_the_same_way_as_in_the_app(r, names, sidecar_factory):
    sidecar_factory()
    run_id = str(uuid.uuid4())
    r.xadd(names.requests, {"payload": json.dumps({"plugin_run_id": run_id, "plugin_name": "original-crewbase", "user_id": 1,
                                                   "settings": {"reply_to": "not-an-email"}}),
                            "published_at": str(int(time.time())), "schema_version": "v1"})
    assert wait_result(r, names, run_id)["error"] == "invalid settings: reply_to: must be a valid email"
