"""A stand-in for ``crewai.tools``: the ``tool`` decorator."""

from __future__ import annotations

from typing import Any, Callable


class _Tool:
    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        self.name = name
        self.function = function

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


def tool(name: str) -> Callable[[Callable[..., Any]], _Tool]:
    return lambda function: _Tool(name, function)
