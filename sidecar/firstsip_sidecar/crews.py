"""How the plugin process builds and runs a CrewAI crew (runs in the child, see :mod:`firstsip_sidecar.runner`).

The crew factory (``create_crew`` by default) is called by its signature:

- ``create_crew(settings, context)``: FirstSip's own form; the crew reports its steps itself
  (``context.step``) and reads its credentials from ``context.secrets``;
- ``create_crew(settings, llm=None, search_tool=None)``: the original system's latest form; the
  LLM and the search tool are built here, as the original executor built them;
- ``create_crew(settings)``: the original's phase-09 form (often a ``@CrewBase`` class reading
  ``config/agents.yaml`` and ``config/tasks.yaml``); when the run has LLM credentials, its agents
  get that LLM.

The original forms receive the settings without ``_`` keys (as the original executor passed them),
and every finished task is reported as a step named after the task.

The LLM (:func:`build_llm`): ``_llm_api_key`` and ``_llm_model`` (a setting where the original put it,
else a secret), optionally ``_llm_base_url``; none without both key and model (CrewAI then uses its own
default), and ``max_tokens`` 4096 for ``anthropic/`` models, as the original did. The search tool
(:func:`build_search_tool`): Tavily with ``_tavily_api_key`` (put in ``TAVILY_API_KEY`` for the tool,
which reads it there), else DuckDuckGo when ``langchain_community`` is installed, else none.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Dict, Mapping, Optional

from .context import PluginContext
from .errors import PluginFailure


def clean(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The settings without ``_`` keys: what the original passed to a crew and its kickoff."""
    return {key: value for key, value in settings.items() if not str(key).startswith("_")}


def build_llm(settings: Mapping[str, Any], secrets: Mapping[str, str]) -> Any:
    """The run's LLM, or ``None`` when it has no API key or no model."""
    api_key = secrets.get("_llm_api_key")
    model = settings.get("_llm_model") or secrets.get("_llm_model")
    if not api_key or not model:
        return None
    from crewai import LLM

    options: Dict[str, Any] = {"model": model, "api_key": api_key}
    if str(model).startswith("anthropic/"):
        options["max_tokens"] = 4096
    if secrets.get("_llm_base_url"):
        options["base_url"] = secrets["_llm_base_url"]
    return LLM(**options)


def build_search_tool(secrets: Mapping[str, str]) -> Any:
    """Tavily with the run's key, else DuckDuckGo when installed, else ``None``."""
    tavily_key = secrets.get("_tavily_api_key")
    if tavily_key:
        try:
            from crewai_tools import TavilySearchTool
        except ImportError:
            raise PluginFailure(
                "the run has a Tavily key but crewai-tools is not installed in this sidecar: install crewai-tools"
            ) from None
        os.environ["TAVILY_API_KEY"] = tavily_key  # the tool reads it there; this process runs this one run
        return TavilySearchTool()
    try:
        from crewai.tools import tool
        from langchain_community.tools import DuckDuckGoSearchRun
    except ImportError:
        return None
    search = DuckDuckGoSearchRun()

    @tool("Web Search")
    def web_search(query: str) -> str:
        """Search the web for current information."""
        return search.run(query)

    return web_search


def _accepts(parameters: Mapping[str, inspect.Parameter], name: str) -> bool:
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _takes_context(parameters: Mapping[str, inspect.Parameter]) -> bool:
    if "context" in parameters:
        return True
    positional = [
        p for p in parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) >= 2 and positional[1].name not in ("llm", "search_tool") and positional[1].default is inspect.Parameter.empty


def _report_tasks(crew: Any, context: PluginContext) -> None:
    for index, item in enumerate(getattr(crew, "tasks", None) or []):
        name = getattr(item, "name", None) or f"task_{index + 1}"
        previous = getattr(item, "callback", None)

        def callback(output: Any, name: str = name, previous: Optional[Callable[[Any], Any]] = previous) -> None:
            if previous is not None:
                previous(output)
            context.step(name, f"{name} finished")

        item.callback = callback


def create(factory: Callable[..., Any], settings: Mapping[str, Any], context: PluginContext) -> Any:
    """Calls a crew factory by its signature (see the module's description) and returns the crew."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    if _takes_context(parameters):
        return factory(settings, context)
    secrets = context.secrets
    options: Dict[str, Any] = {}
    llm = build_llm(settings, secrets)
    if _accepts(parameters, "llm"):
        options["llm"] = llm
    if _accepts(parameters, "search_tool"):
        options["search_tool"] = build_search_tool(secrets)
    crew = factory(clean(settings), **options)
    if "llm" not in options and llm is not None:
        for member in getattr(crew, "agents", None) or []:
            member.llm = llm
    _report_tasks(crew, context)
    return crew


def kickoff_inputs(module: Any, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The inputs for ``kickoff``: the module's ``crew_inputs(settings)`` when it has one, else the settings without ``_`` keys."""
    make_inputs = getattr(module, "crew_inputs", None)
    return make_inputs(settings) if callable(make_inputs) else clean(settings)
