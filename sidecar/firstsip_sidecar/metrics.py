"""The sidecar's counters, rendered in the Prometheus text format for ``/metrics``."""

from __future__ import annotations

import threading
from typing import Dict, List, Tuple

_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

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
    """Counters, the in-flight gauge and the execution-time histogram of one worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Dict[str, int] = {name: 0 for name, _ in _COUNTERS}
        self.in_flight = 0
        self._buckets: List[int] = [0] * len(_BUCKETS)
        self._sum = 0.0
        self._count = 0

    def increment(self, name: str, value: int = 1) -> None:
        """Adds to a counter (one of the names in ``_COUNTERS``)."""
        with self._lock:
            self._counters[name] += value

    def get(self, name: str) -> int:
        """The current value of a counter."""
        with self._lock:
            return self._counters[name]

    def observe_execution(self, seconds: float) -> None:
        """Records one execution's wall time."""
        with self._lock:
            self._sum += seconds
            self._count += 1
            for index, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    self._buckets[index] += 1

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: List[str] = []
        with self._lock:
            for name, help_text in _COUNTERS:
                metric = f"firstsip_sidecar_{name}_total"
                lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {self._counters[name]}"]
            lines += [
                "# HELP firstsip_sidecar_runs_in_flight Executions running now.",
                "# TYPE firstsip_sidecar_runs_in_flight gauge",
                f"firstsip_sidecar_runs_in_flight {self.in_flight}",
                "# HELP firstsip_sidecar_execution_seconds Wall time of plugin executions.",
                "# TYPE firstsip_sidecar_execution_seconds histogram",
            ]
            for bound, count in zip(_BUCKETS, self._buckets):
                lines.append(f'firstsip_sidecar_execution_seconds_bucket{{le="{bound:g}"}} {count}')
            lines += [
                f'firstsip_sidecar_execution_seconds_bucket{{le="+Inf"}} {self._count}',
                f"firstsip_sidecar_execution_seconds_sum {self._sum:.6f}",
                f"firstsip_sidecar_execution_seconds_count {self._count}",
            ]
        return "\n".join(lines) + "\n"
