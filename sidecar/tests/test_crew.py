"""The daily-news-digest crew, built and run with the stub ``crewai`` (tests/stubs/crewai)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid

from firstsip_sidecar.sealing import seal

from conftest import REAL_PLUGINS, SIDECAR_ROOT, STUBS, events_for, publish, request_fields, wait_result

KEY = bytes(range(100, 132))


def test_crew_is_built_and_run_in_sequence(r, names, sidecar_factory, tmp_path):
    record = tmp_path / "crew.json"
    sidecar_factory(
        plugin_dir=REAL_PLUGINS,
        FIRSTSIP_SEAL_KEY=base64.b64encode(KEY).decode(),
        OPENAI_MODEL_NAME="stub-model-1",
        CREWAI_STUB_RECORD=str(record), SIDECAR_PLUGIN_ENV="CREWAI_STUB_RECORD",
        SERPER_API_KEY="serper-stub-key",
    )
    run_id = str(uuid.uuid4())
    settings = {"topics": ["AI", "space"], "summary_length": "brief", "frequency": "weekly", "preferred_time": "06:30"}
    secrets = seal({"OPENAI_API_KEY": "sk-from-the-run"}, KEY, run_id)
    r.xadd(names.requests, request_fields(run_id, "daily-news-digest", settings, secrets=secrets))

    result = wait_result(r, names, run_id)
    assert result["status"] == "completed", result["error"]
    briefing = json.loads(result["output"])
    assert briefing["summary"] == "The stub crew ran 3 tasks for AI, space."
    assert [s["title"] for s in briefing["sections"]] == ["research_task", "writing_task", "review_task"]

    steps = [e["step"] for e in events_for(r, names, run_id) if e["kind"] == "step"]
    assert steps == ["research_task", "writing_task", "review_task"]

    crew = json.loads(record.read_text())
    assert crew["process"] == "sequential"
    assert crew["inputs"] == {"topics": "AI, space", "summary_length": "brief", "frequency": "weekly", "preferred_time": "06:30"}
    assert [a["role"] for a in crew["agents"]] == ["Senior news researcher on AI, space", "News digest writer", "Digest editor"]
    assert all(a["llm"] == "stub-model-1" for a in crew["agents"])
    assert [a["tools"] for a in crew["agents"]] == [["SerperDevTool"], [], []]
    assert "since the last weekly digest" in crew["agents"][0]["goal"]
    assert "sent at 06:30" in crew["agents"][2]["goal"]
    tasks = crew["tasks"]
    assert [t["name"] for t in tasks] == ["research_task", "writing_task", "review_task"]
    assert [t["agent"] for t in tasks] == [a["role"] for a in crew["agents"]]
    assert [t["context"] for t in tasks] == [None, ["research_task"], ["writing_task"]]
    assert tasks[1]["context_outputs"] == [briefing["sections"][0]["content"]]
    assert tasks[2]["context_outputs"][0].startswith("writing_task by News digest writer")
    assert "Write a brief news digest about AI, space" in tasks[1]["description"]
    assert all("{" not in t["description"] for t in tasks)


def test_crew_texts_come_from_the_yaml_files():
    with open(os.path.join(REAL_PLUGINS, "daily-news-digest", "crew", "crew.py"), encoding="utf-8") as handle:
        source = handle.read()
    assert "Senior news researcher" not in source and "research_task" not in source
    assert 'load_config("agents")' in source and 'load_config("tasks")' in source


def test_crew_without_llm_credentials_fails_clearly(r, names, sidecar_factory, tmp_path):
    record = tmp_path / "crew.json"
    sidecar_factory(plugin_dir=REAL_PLUGINS, CREWAI_STUB_RECORD=str(record), SIDECAR_PLUGIN_ENV="CREWAI_STUB_RECORD")
    run_id = publish(r, names, "daily-news-digest", {"topics": ["AI"]})
    result = wait_result(r, names, run_id)
    assert result["status"] == "failed" and result["retryable"] is False
    assert result["error"].startswith("no LLM credentials: set OPENAI_API_KEY")
    assert not record.exists()


def test_crew_with_the_environments_key_and_no_search_tool(r, names, sidecar_factory, tmp_path):
    record = tmp_path / "crew.json"
    sidecar_factory(plugin_dir=REAL_PLUGINS, OPENAI_API_KEY="sk-env", CREWAI_STUB_RECORD=str(record), SIDECAR_PLUGIN_ENV="CREWAI_STUB_RECORD")
    run_id = publish(r, names, "daily-news-digest", {})
    assert wait_result(r, names, run_id)["status"] == "completed"
    crew = json.loads(record.read_text())
    assert crew["inputs"]["topics"] == "technology"  # from default_config
    assert all(a["llm"] == "gpt-4o-mini" and a["tools"] == [] for a in crew["agents"])


def test_crew_without_crewai_fails_clearly_and_other_plugins_still_run(r, names, sidecar_factory):
    sidecar_factory(plugin_dir=REAL_PLUGINS, stubs=False, OPENAI_API_KEY="sk-stub")
    crew_run = publish(r, names, "daily-news-digest", {"topics": ["AI"]})
    feed_run = publish(r, names, "feed-digest")
    result = wait_result(r, names, crew_run)
    assert result["status"] == "failed"
    assert result["error"].startswith("crewai is not installed in this sidecar")
    feed = wait_result(r, names, feed_run)
    assert feed["status"] == "completed", feed["error"]
    briefing = json.loads(feed["output"])
    assert [s["title"] for s in briefing["sections"]] == ["Tech Weekly (sample)", "Science Notes (sample)", "City Desk (sample)"]
    assert [e["step"] for e in events_for(r, names, feed_run) if e["kind"] == "step"] == ["read_feed"] * 3


def test_stub_package_is_importable_on_its_own():
    """The end-to-end suite puts tests/stubs on PYTHONPATH of a real sidecar; the stub must import alone."""
    code = "import crewai; print(crewai.Crew.__name__, crewai.Process.sequential.value)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": STUBS}, cwd=SIDECAR_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Crew", "sequential"]
