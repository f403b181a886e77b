using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FirstSip.Plugins.Internal;

/// <summary>The package's instruments (meter <see cref="PluginRunsTelemetry.MeterName"/>) and its activity source.</summary>
internal sealed class PluginRunsMetrics : IDisposable
{
    public const string PluginNameTag = "firstsip.plugin.name";

    public static readonly ActivitySource ActivitySource = new(PluginRunsTelemetry.ActivitySourceName);

    private readonly Meter _meter;

    public PluginRunsMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(PluginRunsTelemetry.MeterName) ?? new Meter(PluginRunsTelemetry.MeterName);
        Started = _meter.CreateCounter<long>("firstsip.plugins.runs.started", "{run}", "Runs created.");
        Dispatched = _meter.CreateCounter<long>("firstsip.plugins.runs.dispatched", "{run}", "Run attempts published to the request stream.");
        Completed = _meter.CreateCounter<long>("firstsip.plugins.runs.completed", "{run}", "Runs that ended completed.");
        Failed = _meter.CreateCounter<long>("firstsip.plugins.runs.failed", "{run}", "Runs that ended failed.");
        TimedOut = _meter.CreateCounter<long>("firstsip.plugins.runs.timed_out", "{run}", "Runs that passed their deadline.");
        Cancelled = _meter.CreateCounter<long>("firstsip.plugins.runs.cancelled", "{run}", "Runs cancelled by the application.");
        Retried = _meter.CreateCounter<long>("firstsip.plugins.runs.retried", "{run}", "Runs scheduled for another attempt.");
        Republished = _meter.CreateCounter<long>("firstsip.plugins.runs.republished", "{run}", "Runs published again as the same attempt because Redis lost their request.");
        CompletedAfterTimeout = _meter.CreateCounter<long>("firstsip.plugins.runs.completed_after_timeout", "{run}", "Completed results applied to runs the app's backstop had timed out.");
        DuplicateResults = _meter.CreateCounter<long>("firstsip.plugins.results.duplicate", "{result}", "Results ignored because the run was already terminal or waiting for a retry.");
        OrphanResults = _meter.CreateCounter<long>("firstsip.plugins.results.orphan", "{result}", "Results for runs that do not exist.");
        Duration = _meter.CreateHistogram<double>("firstsip.plugins.run.duration", "s", "Time from a run's creation to its terminal state.");
        QueueWait = _meter.CreateHistogram<double>("firstsip.plugins.run.queue_wait", "s", "Time from a run's dispatch to the start reported by a worker.");
    }

    public Counter<long> Started { get; }

    public Counter<long> Dispatched { get; }

    public Counter<long> Completed { get; }

    public Counter<long> Failed { get; }

    public Counter<long> TimedOut { get; }

    public Counter<long> Cancelled { get; }

    public Counter<long> Retried { get; }

    public Counter<long> Republished { get; }

    public Counter<long> CompletedAfterTimeout { get; }

    public Counter<long> DuplicateResults { get; }

    public Counter<long> OrphanResults { get; }

    public Histogram<double> Duration { get; }

    public Histogram<double> QueueWait { get; }

    public static void Add(Counter<long> counter, string pluginName, long value = 1)
    {
        if (counter.Enabled)
        {
            counter.Add(value, new KeyValuePair<string, object?>(PluginNameTag, pluginName));
        }
    }

    public static void Record(Histogram<double> histogram, string pluginName, TimeSpan value)
    {
        if (histogram.Enabled)
        {
            histogram.Record(value.TotalSeconds, new KeyValuePair<string, object?>(PluginNameTag, pluginName));
        }
    }

    /// <summary>Counts a terminal transition and records the run's duration.</summary>
    public void Ended(PluginRun run, PluginRunStatus status, DateTimeOffset at)
    {
        var counter = status switch
        {
            PluginRunStatus.Completed => Completed,
            PluginRunStatus.Failed => Failed,
            PluginRunStatus.TimedOut => TimedOut,
            PluginRunStatus.Cancelled => Cancelled,
            _ => null,
        };
        if (counter is not null)
        {
            Add(counter, run.PluginName);
            Record(Duration, run.PluginName, at - run.CreatedAt);
        }
    }

    public void Dispose() => _meter.Dispose();
}
