"""What a plugin receives besides its settings: :class:`PluginContext`."""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Callable, Mapping, Optional


class PluginContext:
    """The run a plugin executes for.

    :param run_id: the run id (lowercase UUID text).
    :param attempt: 1-based attempt number.
    :param plugin_dir: the plugin's folder (absolute), for files it ships.
    :param secrets: the run's opened secrets (names to values); empty when the run has none.
    :param deadline: unix time in seconds at which the sidecar stops the execution.
    :param report: where progress steps go (set by the sidecar).
    """

    def __init__(
        self,
        *,
        run_id: str,
        attempt: int,
        plugin_dir: str,
        secrets: Mapping[str, str],
        deadline: float,
        report: Optional[Callable[[str, Optional[str]], None]] = None,
    ) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.plugin_dir = plugin_dir
        self._secrets = MappingProxyType(dict(secrets))
        self.deadline = deadline
        self._report = report

    @property
    def secrets(self) -> Mapping[str, str]:
        """The run's secrets, read-only. Never log them."""
        return self._secrets

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(self.deadline - time.time(), 0.0)

    def step(self, name: str, message: Optional[str] = None) -> None:
        """Reports a finished step; the sidecar publishes it as a ``step`` event.

        :param name: the step name, e.g. ``research_task``.
        :param message: optional short text (not secrets).
        """
        if self._report is not None:
            self._report(str(name), None if message is None else str(message))

    def __repr__(self) -> str:
        return f"PluginContext(run_id={self.run_id!r}, attempt={self.attempt}, secrets=<{len(self._secrets)} hidden>)"
