using System.Diagnostics.Metrics;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>The scheduler's instruments, on the package's meter (<see cref="PluginRunsTelemetry.MeterName"/>).</summary>
internal sealed class PluginSchedulesMetrics : IDisposable
{
    public const string ReasonTag = "firstsip.schedule.skip_reason";

    public const string MisfireReason = "misfire";

    public const string OverlapReason = "overlap";

    private readonly Meter _meter;

    public PluginSchedulesMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(PluginRunsTelemetry.MeterName) ?? new Meter(PluginRunsTelemetry.MeterName);
        Fired = _meter.CreateCounter<long>("firstsip.plugins.schedules.fired", "{occurrence}", "Schedule occurrences that started a run.");
        Skipped = _meter.CreateCounter<long>("firstsip.plugins.schedules.skipped", "{occurrence}", "Schedule occurrences skipped by the misfire or the overlap policy.");
        Paused = _meter.CreateCounter<long>("firstsip.plugins.schedules.paused", "{schedule}", "Schedules the scheduler paused because their plugin disappeared or their settings stopped being valid.");
        Lateness = _meter.CreateHistogram<double>("firstsip.plugins.schedule.lateness", "s", "Time from an occurrence's due time to the start of its run.");
    }

    public Counter<long> Fired { get; }

    public Counter<long> Skipped { get; }

    public Counter<long> Paused { get; }

    public Histogram<double> Lateness { get; }

    public void CountFired(string pluginName, TimeSpan lateness)
    {
        PluginRunsMetrics.Add(Fired, pluginName);
        PluginRunsMetrics.Record(Lateness, pluginName, lateness < TimeSpan.Zero ? TimeSpan.Zero : lateness);
    }

    public void CountSkipped(string pluginName, string reason, long count)
    {
        if (count > 0 && Skipped.Enabled)
        {
            Skipped.Add(count, new KeyValuePair<string, object?>(PluginRunsMetrics.PluginNameTag, pluginName), new KeyValuePair<string, object?>(ReasonTag, reason));
        }
    }

    public void Dispose() => _meter.Dispose();
}
