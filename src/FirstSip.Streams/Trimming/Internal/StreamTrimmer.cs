using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Trims a stream with XTRIM MINID below the oldest entry any consumer group still needs.</summary>
internal sealed class StreamTrimmer : IStreamTrimmer
{
    private readonly IConnectionMultiplexer _connection;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<StreamTrimmer> _logger;

    public StreamTrimmer(IConnectionMultiplexer connection, TimeProvider timeProvider, ILogger<StreamTrimmer> logger)
    {
        _connection = connection;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public async Task<long> TrimOlderThanAsync(string streamName, TimeSpan age, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        ArgumentOutOfRangeException.ThrowIfLessThan(age, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        var before = (_timeProvider.GetUtcNow() - age).ToUnixTimeMilliseconds();
        if (before <= 0)
        {
            return 0;
        }

        var minId = before.ToString(CultureInfo.InvariantCulture) + "-0";
        var removed = await _connection.GetDatabase().StreamTrimByMinIdAsync(streamName, minId, useApproximateMaxLength: false)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        _logger.TrimmedByAge(removed, streamName, age);
        return removed;
    }

    public async Task<long> TrimAcknowledgedAsync(string streamName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        cancellationToken.ThrowIfCancellationRequested();
        var database = _connection.GetDatabase();
        RedisKey key = streamName;
        if (!await database.KeyExistsAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var groups = await database.StreamGroupInfoAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (groups.Length == 0)
        {
            // Nobody has acknowledged anything: every entry is still needed.
            return 0;
        }

        StreamId? threshold = null;
        foreach (var group in groups)
        {
            StreamId needed;
            if (group.PendingMessageCount > 0)
            {
                var pending = await database.StreamPendingAsync(key, group.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
                needed = StreamId.Parse(pending.LowestPendingMessageId.ToString()) ?? StreamId.Zero;
            }
            else
            {
                // Nothing pending: the group needs everything after its last-delivered id.
                needed = (StreamId.Parse(group.LastDeliveredId) ?? StreamId.Zero).Next();
            }

            if (threshold is null || needed.CompareTo(threshold.Value) < 0)
            {
                threshold = needed;
            }
        }

        if (threshold is not { } minId || minId.Equals(StreamId.Zero))
        {
            return 0;
        }

        var text = minId.ToString();
        var removed = await database.StreamTrimByMinIdAsync(key, text, useApproximateMaxLength: false).WaitAsync(cancellationToken).ConfigureAwait(false);
        _logger.Trimmed(removed, streamName, text);
        return removed;
    }

    /// <summary>A stream entry id (<c>ms-seq</c>), ordered as Redis orders them.</summary>
    internal readonly record struct StreamId(ulong Milliseconds, ulong Sequence) : IComparable<StreamId>
    {
        public static StreamId Zero => default;

        public static StreamId? Parse(string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            var dash = text.IndexOf('-', StringComparison.Ordinal);
            var msText = dash < 0 ? text : text[..dash];
            var seqText = dash < 0 ? "0" : text[(dash + 1)..];
            return ulong.TryParse(msText, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                && ulong.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
                ? new StreamId(ms, seq)
                : null;
        }

        public StreamId Next() => Sequence == ulong.MaxValue ? new StreamId(Milliseconds + 1, 0) : new StreamId(Milliseconds, Sequence + 1);

        public int CompareTo(StreamId other)
        {
            var byMs = Milliseconds.CompareTo(other.Milliseconds);
            return byMs != 0 ? byMs : Sequence.CompareTo(other.Sequence);
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Milliseconds}-{Sequence}");
    }
}
