namespace FirstSip.Plugins.Internal;

/// <summary>
/// Consecutive failures of a background loop's cycles (the database or Redis unreachable): which to log (the first, then
/// every 30th), how long to wait before the next cycle (doubling up to 30 seconds), and whether a success ends a failure run.
/// Used by one loop at a time.
/// </summary>
internal sealed class LoopFailures
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    public int Count { get; private set; }

    /// <summary>Counts a failure; returns whether it should be logged.</summary>
    public bool ShouldLog() => ++Count % 30 == 1;

    /// <summary>The wait before the next cycle after <see cref="Count"/> failures in a row.</summary>
    public TimeSpan Backoff(TimeSpan interval)
    {
        var exponent = Math.Min(Count - 1, 10);
        var wait = interval * Math.Pow(2, exponent);
        return wait > MaxBackoff ? (interval > MaxBackoff ? interval : MaxBackoff) : wait;
    }

    /// <summary>Counts a success; returns whether it ended a run of failures.</summary>
    public bool Recovered()
    {
        var recovered = Count > 0;
        Count = 0;
        return recovered;
    }
}
