"""A stand-in for the ``crewai`` package, for tests only.

``Agent``, ``Task``, ``Crew``, ``Process`` and ``LLM`` keep what they are given; ``Agent`` and
``Task`` also take ``config=`` (a mapping from YAML), and :mod:`crewai.project` offers
``CrewBase`` and the ``agent``, ``task`` and ``crew`` decorators, so an idiomatic CrewAI project
builds as it would with CrewAI. ``Crew.kickoff``
interpolates the inputs into the agents and tasks the way CrewAI does (``{name}`` placeholders),
runs the tasks in order, hands each task the outputs of the tasks in its ``context``, calls each
task's ``callback`` with a ``TaskOutput``, and returns a ``CrewOutput`` whose ``raw`` is Markdown.
When ``CREWAI_STUB_RECORD`` names a file, kickoff writes what it saw there as JSON, so a test in
another process can check how the crew was built. No model is called.
"""

from __future__ import annotations

import enum
import json
import os
from typing import Any, Dict, List, Optional

__version__ = "0.0.0-stub"
BUILT: List["Crew"] = []


def _interpolate(text: Optional[str], inputs: Dict[str, Any]) -> Optional[str]:
    if text is None:
        return None
    for key, value in inputs.items():
        text = text.replace("{" + key + "}", str(value))
    return text


class Process(str, enum.Enum):
    sequential = "sequential"
    hierarchical = "hierarchical"


class LLM:
    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model = model
        self.kwargs = kwargs


class Agent:
    def __init__(self, role: Optional[str] = None, goal: Optional[str] = None, backstory: Optional[str] = None,
                 config: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        config = dict(config or {})
        self.role = role if role is not None else config.get("role")
        self.goal = goal if goal is not None else config.get("goal")
        self.backstory = backstory if backstory is not None else config.get("backstory")
        if not (self.role and self.goal and self.backstory):
            raise ValueError("an Agent needs role, goal and backstory (arguments or config)")
        self.kwargs = kwargs
        self.llm = kwargs.get("llm")
        self.tools = kwargs.get("tools") or []


class TaskOutput:
    def __init__(self, name: str, description: str, raw: str, agent: str) -> None:
        self.name = name
        self.description = description
        self.raw = raw
        self.agent = agent

    def __str__(self) -> str:
        return self.raw


class Task:
    def __init__(self, description: Optional[str] = None, expected_output: Optional[str] = None, agent: Optional[Agent] = None,
                 config: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        config = dict(config or {})
        self.description = description if description is not None else config.get("description")
        self.expected_output = expected_output if expected_output is not None else config.get("expected_output")
        if not (self.description and self.expected_output):
            raise ValueError("a Task needs description and expected_output (arguments or config)")
        self.agent = agent
        # As in CrewAI, the config may name the agent and the context tasks; @CrewBase resolves the names.
        self.config_agent = config.get("agent")
        self.config_context = config.get("context")
        self.name = kwargs.get("name")
        self.context = kwargs.get("context")
        self.callback = kwargs.get("callback")
        self.kwargs = kwargs
        self.output: Optional[TaskOutput] = None


class CrewOutput:
    def __init__(self, raw: str, tasks_output: List[TaskOutput]) -> None:
        self.raw = raw
        self.tasks_output = tasks_output

    def __str__(self) -> str:
        return self.raw


class Crew:
    def __init__(self, agents: List[Agent], tasks: List[Task], process: Process = Process.sequential, **kwargs: Any) -> None:
        self.agents = agents
        self.tasks = tasks
        self.process = process
        self.kwargs = kwargs
        BUILT.append(self)

    def kickoff(self, inputs: Optional[Dict[str, Any]] = None) -> CrewOutput:
        inputs = dict(inputs or {})
        for agent in self.agents:
            agent.role = _interpolate(agent.role, inputs)
            agent.goal = _interpolate(agent.goal, inputs)
            agent.backstory = _interpolate(agent.backstory, inputs)
        record: Dict[str, Any] = {
            "process": getattr(self.process, "value", str(self.process)),
            "inputs": inputs,
            "agents": [
                {"role": a.role, "goal": a.goal, "backstory": a.backstory,
                 "llm": getattr(a.llm, "model", None),
                 "llm_options": sorted(getattr(a.llm, "kwargs", {}) or {}),
                 "llm_max_tokens": (getattr(a.llm, "kwargs", {}) or {}).get("max_tokens"),
                 "tools": [getattr(t, "name", None) or type(t).__name__ for t in a.tools]}
                for a in self.agents
            ],
            "tasks": [],
        }
        outputs: List[TaskOutput] = []
        for task in self.tasks:
            task.description = _interpolate(task.description, inputs)
            task.expected_output = _interpolate(task.expected_output, inputs)
            context = [c.output.raw for c in (task.context or []) if c.output is not None]
            raw = f"{task.name} by {task.agent.role if task.agent else '?'}: {task.description.strip()}"
            if context:
                raw += " | context: " + " || ".join(context)
            task.output = TaskOutput(task.name or "", task.description, raw, task.agent.role if task.agent else "")
            outputs.append(task.output)
            record["tasks"].append(
                {
                    "name": task.name,
                    "agent": task.agent.role if task.agent else None,
                    "description": task.description,
                    "expected_output": task.expected_output,
                    "context": [c.name for c in task.context] if task.context is not None else None,
                    "context_outputs": context,
                }
            )
            if task.callback is not None:
                task.callback(task.output)
        markdown = "# Crew digest\n\n" + f"The stub crew ran {len(outputs)} tasks for {inputs.get('topics', '')}.\n"
        for output in outputs:
            markdown += f"\n## {output.name}\n\n{output.raw}\n"
        path = os.environ.get("CREWAI_STUB_RECORD")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
        return CrewOutput(markdown, outputs)
