"""The sidecar's metrics for ``/metrics``, kept with Debian's ``python3-prometheus-client``.

Each :class:`Metrics` has its own registry (so several workers in one process, as in the tests,
never share counters) holding the counters below (exposed as ``firstsip_sidecar_<name>_total``),
the in-flight gauge, the execution-time histogram and the standard process collector
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ...).
"""

from __future__ import annotations

from typing import Dict, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_PREFIX = "firstsip_sidecar_"

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The content type of :meth:`Metrics.render`'s text."""

_COUNTERS: Tuple[Tuple[str, str], ...] = (
    ("requests_received", "Request entries the worker took from the stream (new or reclaimed)."),
    ("runs_completed", "Runs that ended completed."),
    ("runs_failed", "Runs that ended failed (timed out and cancelled runs included)."),
    ("runs_timed_out", "Runs killed at their timeout."),
    ("runs_cancelled", "Runs stopped by a cancel."),
    ("runs_not_started", "Runs not started because their queue timeout or deadline had passed."),
    ("executions_abandoned", "Executions killed without a result because their lease was lost or ran out."),
    ("requests_dead_lettered", "Entries moved to the dead-letter stream."),
    ("requests_duplicate", "Entries acknowledged without running because their run had finished."),
    ("requests_reclaimed", "Entries reclaimed from idle consumers."),
)


class Metrics:
    """Counters, the in-flight gauge and the execution-time histogram of one worker.

    :param process_collector: also expose the process's CPU, memory and file descriptors (the default).
    """

    def __init__(self, *, process_collector: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: Dict[str, Counter] = {
            name: Counter(_PREFIX + name, help_text, registry=self.registry) for name, help_text in _COUNTERS
        }
        self._in_flight = Gauge(_PREFIX + "runs_in_flight", "Executions running now.", registry=self.registry)
        self._execution = Histogram(
            _PREFIX + "execution_seconds", "Wall time of plugin executions.", buckets=_BUCKETS, registry=self.registry
        )
        if process_collector:
            ProcessCollector(registry=self.registry)

    def increment(self, name: str, value: int = 1) -> None:
        """Adds to a counter (one of the names in ``_COUNTERS``)."""
        self._counters[name].inc(value)

    def get(self, name: str) -> int:
        """The current value of a counter."""
        return int(self._counters[name]._value.get())  # noqa: SLF001 - the client keeps no public reader

    @property
    def in_flight(self) -> int:
        """Executions running now."""
        return int(self._in_flight._value.get())  # noqa: SLF001

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._in_flight.set(value)

    def observe_execution(self, seconds: float) -> None:
        """Records one execution's wall time."""
        self._execution.observe(seconds)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry).decode("utf-8")
