"""A stand-in for the ``crewai_tools`` package, for tests only: a search tool that searches nothing."""

from __future__ import annotations

import os
from typing import Any


class SerperDevTool:
    """Records that it was built and whether its key was in the environment, as the real tool reads it."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.has_key = bool(os.environ.get("SERPER_API_KEY"))

    def run(self, query: str) -> str:
        return f"no results for {query} (stub)"


class TavilySearchTool:
    """Records whether ``TAVILY_API_KEY`` was in the environment when it was built, as the real tool reads it there."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.has_key = bool(os.environ.get("TAVILY_API_KEY"))
        self.name = "TavilySearchTool" if self.has_key else "TavilySearchTool (no key)"

    def run(self, query: str) -> str:
        return f"no results for {query} (stub)"
