using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Reads a run's progress events back from the event stream. Progress and results travel on two streams, read by
/// separate readers: a fast run's result can be applied before its steps are, so a watch that reaches the terminal
/// state reads the steps it has not seen from the stream itself (XRANGE over the run's lifetime, no group) and
/// reports them before the end. Best effort: entries trimmed away or an unreachable Redis give nothing.
/// </summary>
internal sealed class RunEventBackfill(IServiceProvider services, IOptions<PluginStreamsOptions> streamsOptions, TimeProvider timeProvider)
{
    /// <summary>The most entries one read looks at (of every run, since the stream is shared).</summary>
    internal const int MaxEntries = 10_000;

    /// <summary>How far before the run's creation the read starts, for clocks that differ between hosts.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);

    public async Task<IReadOnlyList<PluginRunUpdate>> ReadAsync(PluginRun run, int attempt, CancellationToken cancellationToken)
    {
        var redis = services.GetService<IConnectionMultiplexer>();
        if (redis is null || !redis.IsConnected)
        {
            return [];
        }

        var from = Math.Max(0, (run.CreatedAt - ClockSkew).ToUnixTimeMilliseconds());
        StreamEntry[] entries;
        try
        {
            entries = await redis.GetDatabase()
                .StreamRangeAsync(streamsOptions.Value.EventsStream, $"{from}-0", "+", MaxEntries)
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
            if (decoded.IsPoison || decoded.Message is not { } evt || evt.PluginRunId != run.RunId
                || (evt.Attempt is { } eventAttempt && eventAttempt != attempt))
            {
                continue;
            }

            updates.Add(RunUpdates.FromEvent(evt, entry.Id.ToString(), run, now));
        }

        return updates;
    }
}
