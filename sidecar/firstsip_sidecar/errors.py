"""Exceptions of the sidecar, and :class:`Retry`, which plugins raise to ask for another attempt."""

from __future__ import annotations

import datetime
from typing import Optional, Union


class SidecarError(Exception):
    """Base class of the sidecar's own errors."""


class ConfigurationError(SidecarError):
    """A setting from the environment is missing or malformed."""


class PoisonEntry(SidecarError):
    """A request entry that can never be processed.

    :param reason: the dead-letter reason (the texts of docs/protocol.md).
    :param run_id: the run id when it was readable, so the run can be failed with the reason.
    """

    def __init__(self, reason: str, run_id: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


class ManifestError(SidecarError):
    """A ``plugin.yaml`` (or the settings schema it points at) is invalid."""


class UnknownPluginError(SidecarError):
    """The catalog has no plugin with that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown plugin: {name}")
        self.name = name


class SecretsError(SidecarError):
    """The run's sealed secrets cannot be opened (no key, wrong key, tampered or moved text)."""


class MissingDependencyError(SidecarError):
    """An optional dependency a plugin needs is not installed; the message says how to install it."""


class PluginFailure(SidecarError):
    """A plugin failed in a way that deserves a short, clear message rather than a traceback."""


class Retry(Exception):
    """Raised by a plugin to ask for another attempt of the run.

    The run's result is then ``failed`` with ``"retryable": true``; the application decides
    whether and when to dispatch the run again.

    :param defer: how long the plugin asks to wait before the next attempt: seconds, or a
        :class:`datetime.timedelta`. It reaches the app as the result's ``retry_delay_ms``.
    :param reason: optional text stored as the run's error.
    """

    def __init__(self, defer: Union[float, datetime.timedelta] = 0.0, reason: Optional[str] = None) -> None:
        seconds = defer.total_seconds() if isinstance(defer, datetime.timedelta) else float(defer)
        self.defer = max(seconds, 0.0)
        self.reason = reason
        super().__init__(reason or f"retry requested (defer {self.defer:g} s)")
