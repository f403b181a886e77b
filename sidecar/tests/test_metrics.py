"""The sidecar's /metrics text, kept by python3-prometheus-client."""

from prometheus_client.parser import text_string_to_metric_families

from firstsip_sidecar.metrics import Metrics


def test_the_metric_names_stay_and_the_process_collector_is_there():
    metrics = Metrics()
    metrics.increment("runs_completed")
    metrics.increment("requests_received", 3)
    metrics.in_flight += 2
    metrics.in_flight -= 1
    metrics.observe_execution(0.7)
    text = metrics.render()

    samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples["firstsip_sidecar_runs_completed_total"] == 1
    assert samples["firstsip_sidecar_requests_received_total"] == 3
    assert samples["firstsip_sidecar_runs_failed_total"] == 0
    assert samples["firstsip_sidecar_runs_in_flight"] == 1
    assert samples["firstsip_sidecar_execution_seconds_count"] == 1
    assert samples["firstsip_sidecar_execution_seconds_sum"] == 0.7
    assert "process_resident_memory_bytes" in samples and "process_cpu_seconds_total" in samples
    for name in ("runs_timed_out", "runs_cancelled", "runs_not_started", "executions_abandoned", "requests_dead_lettered",
                 "requests_duplicate", "requests_reclaimed"):
        assert f"firstsip_sidecar_{name}_total" in samples
    assert metrics.get("requests_received") == 3 and metrics.in_flight == 1


def test_each_worker_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.increment("runs_failed")
    assert (first.get("runs_failed"), second.get("runs_failed")) == (1, 0)
