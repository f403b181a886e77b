using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FirstSip.Streams.Internal;

/// <summary>All instruments of the library, in one meter.</summary>
internal sealed class StreamsMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly ReaderRegistry _readers;

    public StreamsMetrics(ReaderRegistry readers, IMeterFactory? meterFactory = null)
    {
        _readers = readers;
        if (meterFactory is null)
        {
            _meter = new Meter(PluginStreamsTelemetry.MeterName);
            _ownsMeter = true;
        }
        else
        {
            _meter = meterFactory.Create(PluginStreamsTelemetry.MeterName);
        }

        Published = _meter.CreateCounter<long>("firstsip.streams.messages.published", "{message}", "Messages added to a stream.");
        Processed = _meter.CreateCounter<long>("firstsip.streams.messages.processed", "{message}", "Messages handled successfully and acknowledged.");
        Failed = _meter.CreateCounter<long>("firstsip.streams.messages.failed", "{message}", "Handler failures; the entry stays pending and is retried.");
        DeadLettered = _meter.CreateCounter<long>("firstsip.streams.messages.dead_lettered", "{message}", "Entries moved to a dead-letter stream.");
        Reclaimed = _meter.CreateCounter<long>("firstsip.streams.messages.reclaimed", "{message}", "Idle pending entries claimed from other consumers.");
        DeletedWhilePending = _meter.CreateCounter<long>("firstsip.streams.messages.deleted_while_pending", "{message}", "Pending entries found deleted from the stream.");
        ProcessDuration = _meter.CreateHistogram<double>("firstsip.streams.message.process.duration", "s", "Time a handler took for one message.");
        _meter.CreateObservableGauge("firstsip.streams.group.lag", ObserveLag, "{message}", "Entries of the stream not yet delivered to the group.");
    }

    public Counter<long> Published { get; }

    public Counter<long> Processed { get; }

    public Counter<long> Failed { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Reclaimed { get; }

    public Counter<long> DeletedWhilePending { get; }

    public Histogram<double> ProcessDuration { get; }

    public static TagList Tags(string stream, string? group)
    {
        var tags = new TagList { { StreamsDiagnostics.DestinationName, stream } };
        if (group is not null)
        {
            tags.Add(StreamsDiagnostics.ConsumerGroup, group);
        }

        return tags;
    }

    public static void Add(Counter<long> counter, long value, string stream, string? group)
    {
        if (counter.Enabled && value != 0)
        {
            counter.Add(value, Tags(stream, group));
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var reader in _readers.Snapshot())
        {
            if (reader.Lag is { } lag)
            {
                yield return new Measurement<long>(lag, Tags(reader.StreamName, reader.GroupName));
            }
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
