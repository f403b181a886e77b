using System.Collections.Concurrent;

namespace FirstSip.Streams.Internal;

/// <summary>The live state of one reader, read by the health check and the lag gauge.</summary>
internal sealed class ReaderState
{
    private long _lastLoopTimestamp;
    private long _lag = -1;

    public ReaderState(string name, string streamName, string groupName, string consumerName, TimeSpan stalledAfter, long lagThreshold, long nowTimestamp)
    {
        Name = name;
        StreamName = streamName;
        GroupName = groupName;
        ConsumerName = consumerName;
        StalledAfter = stalledAfter;
        LagThreshold = lagThreshold;
        _lastLoopTimestamp = nowTimestamp;
    }

    public string Name { get; }

    public string StreamName { get; }

    public string GroupName { get; }

    public string ConsumerName { get; }

    public TimeSpan StalledAfter { get; }

    public long LagThreshold { get; }

    public long LastLoopTimestamp => Interlocked.Read(ref _lastLoopTimestamp);

    public long? Lag
    {
        get
        {
            var lag = Interlocked.Read(ref _lag);
            return lag < 0 ? null : lag;
        }
    }

    public string? LastError { get; set; }

    public void MarkLoop(long timestamp) => Interlocked.Exchange(ref _lastLoopTimestamp, timestamp);

    public void SetLag(long? lag) => Interlocked.Exchange(ref _lag, lag ?? -1);
}

/// <summary>The readers running in this process.</summary>
internal sealed class ReaderRegistry
{
    private readonly ConcurrentDictionary<string, ReaderState> _readers = new(StringComparer.Ordinal);

    public void Add(ReaderState state) => _readers[state.Name] = state;

    public void Remove(string name) => _readers.TryRemove(name, out _);

    public IReadOnlyCollection<ReaderState> Snapshot() => [.. _readers.Values];
}
