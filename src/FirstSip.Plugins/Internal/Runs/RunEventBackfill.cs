using System.Globalization;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Reads a run's progress events back from the event stream (XRANGE, no group), which is their one order. The app
/// group's readers split the stream between the application's processes, so events reach a watcher (through the
/// relay) in the order the processes handled them, not always the stream's: when an event arrives, the watch reads
/// the run's events between the last one it reported and this one, and reports them in stream order. Progress and
/// results also travel on two streams, so a fast run's result can be applied before its steps are: a watch that
/// reaches the end reads the rest. Best effort: entries trimmed away or an unreachable Redis give nothing, and the
/// relayed copies are reported as they come.
/// </summary>
internal sealed class RunEventBackfill(IServiceProvider services, IOptions<PluginStreamsOptions> streamsOptions, TimeProvider timeProvider)
{
    /// <summary>The most entries one read looks at (of every run, since the stream is shared).</summary>
    internal const int MaxEntries = 10_000;

    /// <summary>How far before the run's creation the read starts, for clocks that differ between hosts.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Reads the run's events after <paramref name="afterId"/> (exclusive; from shortly before the run's creation when
    /// null) up to <paramref name="toId"/> (inclusive; the stream's end when null), in stream order.
    /// </summary>
    public async Task<IReadOnlyList<PluginRunUpdate>> ReadAsync(PluginRun run, string? afterId, string? toId, CancellationToken cancellationToken)
    {
        var redis = services.GetService<IConnectionMultiplexer>();
        if (redis is null || !redis.IsConnected)
        {
            return [];
        }

        var from = afterId is null ? $"{Math.Max(0, (run.CreatedAt - ClockSkew).ToUnixTimeMilliseconds())}-0" : "(" + afterId;
        StreamEntry[] entries;
        try
        {
            entries = await redis.GetDatabase()
                .StreamRangeAsync(streamsOptions.Value.EventsStream, from, toId ?? "+", MaxEntries)
                .WaitAsync(cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return [];
        }

        var now = timeProvider.GetUtcNow();
        var updates = new List<PluginRunUpdate>();
        foreach (var entry in entries)
        {
            var decoded = PluginEventCodec.Instance.Decode(entry.Values);
            if (!decoded.IsPoison && decoded.Message is { } evt && evt.PluginRunId == run.RunId)
            {
                updates.Add(RunUpdates.FromEvent(evt, entry.Id.ToString(), run, now));
            }
        }

        return updates;
    }

    /// <summary>Compares two stream entry ids (<c>ms-seq</c>) in stream order.</summary>
    public static int CompareIds(string a, string b)
    {
        static (long Ms, long Seq) Parse(string id)
        {
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            return dash < 0
                ? (long.Parse(id, CultureInfo.InvariantCulture), 0)
                : (long.Parse(id.AsSpan(0, dash), CultureInfo.InvariantCulture), long.Parse(id.AsSpan(dash + 1), CultureInfo.InvariantCulture));
        }

        return Parse(a).CompareTo(Parse(b));
    }
}
