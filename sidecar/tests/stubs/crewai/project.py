"""A stand-in for ``crewai.project``: ``@CrewBase`` and the ``agent``, ``task``, ``crew`` decorators.

As in CrewAI: ``agents_config`` and ``tasks_config`` (default ``config/agents.yaml`` and
``config/tasks.yaml``) are paths relative to the file that defines the class (an absolute path
works too) and become the loaded mappings; ``@agent`` and ``@task`` methods are memoized per
instance; a task's name defaults to its method's name; a task config's ``agent`` and ``context``
names resolve to the crew's agent and task methods; inside the ``@crew`` method, ``self.agents``
and ``self.tasks`` list every agent and task in definition order.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable

import yaml

_CACHE = "_crewai_stub_cache"


def _memoized(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any) -> Any:
        cache = self.__dict__.setdefault(_CACHE, {})
        if method.__name__ not in cache:
            value = method(self)
            if kind == "task":
                if getattr(value, "name", None) is None:
                    value.name = method.__name__
                if value.agent is None and isinstance(getattr(value, "config_agent", None), str):
                    value.agent = getattr(self, value.config_agent)()
                if value.context is None and isinstance(getattr(value, "config_context", None), list):
                    value.context = [getattr(self, name)() for name in value.config_context]
            cache[method.__name__] = value
        return cache[method.__name__]

    setattr(wrapper, "_crewai_stub_kind", kind)
    return wrapper


def agent(method: Callable[..., Any]) -> Callable[..., Any]:
    return _memoized("agent", method)


def task(method: Callable[..., Any]) -> Callable[..., Any]:
    return _memoized("task", method)


def crew(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any) -> Any:
        members = [value for value in type(self).__dict__.values() if callable(value)]
        self.agents = [m(self) for m in members if getattr(m, "_crewai_stub_kind", None) == "agent"]
        self.tasks = [m(self) for m in members if getattr(m, "_crewai_stub_kind", None) == "task"]
        return method(self)

    return wrapper


def _load(base: Path, value: Any) -> Any:
    if isinstance(value, dict):
        return value
    with open(base / value, "r", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def CrewBase(cls: type) -> type:  # noqa: N802 - CrewAI's name
    base = Path(inspect.getfile(cls)).resolve().parent
    original_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self.agents_config = _load(base, getattr(cls, "agents_config", "config/agents.yaml"))
        self.tasks_config = _load(base, getattr(cls, "tasks_config", "config/tasks.yaml"))
        original_init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls
