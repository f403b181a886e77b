"""The daily news digest crew: researcher -> writer -> reviewer, run in sequence.

Agents and tasks are defined in ``config/agents.yaml`` and ``config/tasks.yaml``; this module
only wires them together. Each task's context is the previous task's output, the settings
``topics``, ``summary_length``, ``frequency`` and ``preferred_time`` are interpolated into the
texts, and each finished task is reported as a progress step named after the task.

The LLM comes from the run's secrets or the sidecar's environment: ``OPENAI_API_KEY`` (required),
``OPENAI_MODEL_NAME`` (default ``gpt-4o-mini``) and ``OPENAI_API_BASE`` (optional). With
``SERPER_API_KEY`` set, the researcher gets a web search tool (from ``crewai-tools``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping

import yaml

from firstsip_sidecar import PluginContext, PluginFailure

CONFIG = Path(__file__).resolve().parent / "config"
DEFAULT_MODEL = "gpt-4o-mini"


def load_config(name: str) -> Dict[str, Dict[str, Any]]:
    """Reads ``config/<name>.yaml`` (keeps the order of its entries)."""
    with open(CONFIG / f"{name}.yaml", "r", encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise PluginFailure(f"crew/config/{name}.yaml must be a mapping")
    return data


def crew_inputs(settings: Mapping[str, Any]) -> Dict[str, str]:
    """The values interpolated into the agents and tasks (lists joined with commas)."""
    topics = settings.get("topics") or ["general news"]
    if isinstance(topics, str):
        topics = [topics]
    return {
        "topics": ", ".join(str(topic) for topic in topics),
        "summary_length": str(settings.get("summary_length", "standard")),
        "frequency": str(settings.get("frequency", "daily")),
        "preferred_time": str(settings.get("preferred_time", "07:00")),
    }


def _setting(context: PluginContext, name: str) -> str:
    return (context.secrets.get(name) or os.environ.get(name) or "").strip()


def build_llm(context: PluginContext) -> Any:
    """The crew's LLM, from the run's secrets first, then the sidecar's environment."""
    from crewai import LLM

    api_key = _setting(context, "OPENAI_API_KEY")
    if not api_key:
        raise PluginFailure(
            "no LLM credentials: set OPENAI_API_KEY (and optionally OPENAI_MODEL_NAME) in the sidecar's "
            "environment, or send OPENAI_API_KEY as a sealed secret of the run"
        )
    options: Dict[str, Any] = {"api_key": api_key}
    base_url = _setting(context, "OPENAI_API_BASE")
    if base_url:
        options["base_url"] = base_url
    return LLM(model=_setting(context, "OPENAI_MODEL_NAME") or DEFAULT_MODEL, **options)


def build_tools(context: PluginContext) -> List[Any]:
    """A web search tool for the researcher when ``SERPER_API_KEY`` is configured, else none."""
    serper_key = _setting(context, "SERPER_API_KEY")
    if not serper_key:
        return []
    try:
        from crewai_tools import SerperDevTool
    except ImportError:
        raise PluginFailure(
            "SERPER_API_KEY is set but crewai-tools is not installed in this sidecar: install crewai-tools"
        ) from None
    # The tool reads its key from the environment; this process runs this one run only.
    os.environ["SERPER_API_KEY"] = serper_key
    return [SerperDevTool()]


def _reporter(context: PluginContext, name: str) -> Any:
    def report(output: Any) -> None:
        context.step(name, f"{name} finished")

    return report


def create_crew(settings: Mapping[str, Any], context: PluginContext) -> Any:
    """Builds the crew for one run (the sidecar then calls ``kickoff(inputs=crew_inputs(settings))``)."""
    from crewai import Agent, Crew, Process, Task

    llm = build_llm(context)
    tools = build_tools(context)
    agents = {
        name: Agent(
            role=config["role"].strip(),
            goal=config["goal"].strip(),
            backstory=config["backstory"].strip(),
            llm=llm,
            tools=tools if name == "researcher" else [],
            allow_delegation=False,
            verbose=False,
        )
        for name, config in load_config("agents").items()
    }
    tasks: Dict[str, Any] = {}
    for name, config in load_config("tasks").items():
        options: Dict[str, Any] = {}
        if config.get("context"):
            options["context"] = [tasks[previous] for previous in config["context"]]
        tasks[name] = Task(
            name=name,
            description=config["description"].strip(),
            expected_output=config["expected_output"].strip(),
            agent=agents[config["agent"]],
            callback=_reporter(context, name),
            **options,
        )
    return Crew(agents=list(agents.values()), tasks=list(tasks.values()), process=Process.sequential, verbose=False)
