using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Publishes typed messages with XADD (no MAXLEN), adding published_at and the trace context.</summary>
internal sealed class StreamPublisher<T> : IStreamPublisher<T>
{
    /// <summary>Messages encoded and sent together by <see cref="PublishManyAsync"/> (fewer when fewer may be in flight).</summary>
    private const int SendChunk = 128;

    private readonly IConnectionMultiplexer _connection;
    private readonly IStreamEntryCodec<T> _codec;
    private readonly StreamsMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly RedisKey _key;
    private readonly int _maxPayloadBytes;
    private readonly int _maxInFlight;

    public StreamPublisher(
        string streamName,
        IConnectionMultiplexer connection,
        IStreamEntryCodec<T> codec,
        IOptions<PluginStreamsOptions> options,
        StreamsMetrics metrics,
        ILogger<StreamPublisher<T>> logger,
        TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        StreamName = streamName;
        _key = System.Text.Encoding.UTF8.GetBytes(streamName);
        _connection = connection;
        _codec = codec;
        _metrics = metrics;
        _logger = logger;
        _timeProvider = timeProvider;
        _maxPayloadBytes = options.Value.MaxPayloadBytes;
        _maxInFlight = Math.Max(1, options.Value.PublishMaxInFlight);
    }

    public string StreamName { get; }

    public async Task<string> PublishAsync(T message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var activity = StartActivity(1);
        var fields = Encode(message, activity);
        try
        {
            var id = await _connection.GetDatabase().StreamAddAsync(_key, fields).WaitAsync(cancellationToken).ConfigureAwait(false);
            StreamsMetrics.Add(_metrics.Published, 1, StreamName, null);
            var text = id.ToString();
            activity?.SetTag(StreamsDiagnostics.MessageId, text);
            return text;
        }
        catch (RedisException ex)
        {
            RecordFailure(activity, ex);
            throw StreamPublishException.For(StreamName, ex);
        }
    }

    public async Task<IReadOnlyList<string>> PublishManyAsync(IReadOnlyList<T> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        if (messages.Count == 0)
        {
            return [];
        }

        using var activity = StartActivity(messages.Count);

        // An oversize message must stop the batch before anything is sent. When the codec bounds every payload under
        // the limit, messages are encoded a chunk ahead of sending, on another thread, while the current chunk is being
        // sent; otherwise everything is encoded (and checked) first.
        var count = messages.Count;
        var chunkSize = Math.Min(SendChunk, _maxInFlight);
        NameValueEntry[][]? encoded = null;
        Task<EncodedChunk>? ahead = null;
        if (FitsByBound(messages))
        {
            ahead = Task.FromResult(EncodeChunk(messages, 0, chunkSize, activity));
        }
        else
        {
            encoded = new NameValueEntry[count][];
            for (var i = 0; i < count; i++)
            {
                encoded[i] = Encode(messages[i], activity);
            }
        }

        var database = _connection.GetDatabase();
        var pending = new Task<RedisValue>[count];
        var ids = new RedisValue[count];
        var completed = 0;

        // Chunks sent whose payload arenas go back to the pool once all their commands have completed.
        var inFlight = new Queue<(int End, PayloadArena Arena)>();
        try
        {
            for (var start = 0; start < count; start += chunkSize)
            {
                var end = Math.Min(count, start + chunkSize);
                EncodedChunk? chunk = null;
                if (ahead is not null)
                {
                    chunk = await ahead.ConfigureAwait(false);
                    ahead = end < count ? EncodeAheadAsync(messages, end, chunkSize, activity) : null;
                }

                // Keep at most _maxInFlight commands outstanding. Waiting once per chunk rather than once per command
                // lets replies arrive in bursts without a wake-up for each one.
                var mustComplete = end - _maxInFlight;
                if (mustComplete > completed)
                {
                    completed = await CollectAsync(pending, ids, completed, mustComplete).ConfigureAwait(false);
                    ReleaseCompleted(inFlight, completed);
                    cancellationToken.ThrowIfCancellationRequested();
                }

                for (var i = start; i < end; i++)
                {
                    pending[i] = database.StreamAddAsync(_key, chunk is null ? encoded![i] : chunk.Fields[i - start]);
                }

                if (chunk is not null)
                {
                    inFlight.Enqueue((end, chunk.Arena));
                }
            }

            completed = await CollectAsync(pending, ids, completed, count).ConfigureAwait(false);
            ReleaseCompleted(inFlight, completed);
        }
        catch (RedisException ex)
        {
            ObserveRemaining(pending, ahead);
            StreamsMetrics.Add(_metrics.Published, completed, StreamName, null);
            RecordFailure(activity, ex);
            throw StreamPublishException.For(StreamName, ex);
        }
        catch (Exception)
        {
            // Cancelled, or a message the codec could not encode: what was sent stays sent.
            ObserveRemaining(pending, ahead);
            StreamsMetrics.Add(_metrics.Published, completed, StreamName, null);
            throw;
        }

        StreamsMetrics.Add(_metrics.Published, completed, StreamName, null);
        return new EntryIds(ids);
    }

    private static void ReleaseCompleted(Queue<(int End, PayloadArena Arena)> inFlight, int completed)
    {
        while (inFlight.TryPeek(out var chunk) && chunk.End <= completed)
        {
            inFlight.Dequeue().Arena.Release();
        }
    }

    /// <summary>Waits for the commands <paramref name="from"/> up to <paramref name="to"/> (exclusive) and records their ids.</summary>
    private static async Task<int> CollectAsync(Task<RedisValue>[] pending, RedisValue[] ids, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            var command = pending[i];
            ids[i] = command.IsCompletedSuccessfully ? command.Result : await command.ConfigureAwait(false);
        }

        return to;
    }

    /// <summary>The ids of a bulk publish, turned into text when read: a caller that does not look at them does not pay for them.</summary>
    private sealed class EntryIds(RedisValue[] ids) : IReadOnlyList<string>
    {
        private readonly string?[] _text = new string?[ids.Length];

        public int Count => ids.Length;

        public string this[int index] => _text[index] ??= ids[index].ToString();

        public IEnumerator<string> GetEnumerator()
        {
            for (var i = 0; i < ids.Length; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private Task<EncodedChunk> EncodeAheadAsync(IReadOnlyList<T> messages, int start, int size, Activity? activity)
        => Task.Run(() => EncodeChunk(messages, start, size, activity));

    private EncodedChunk EncodeChunk(IReadOnlyList<T> messages, int start, int size, Activity? activity)
    {
        var arena = new PayloadArena();
        var fields = new NameValueEntry[Math.Min(size, messages.Count - start)][];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = Encode(messages[start + i], activity, arena);
        }

        return new EncodedChunk(fields, arena);
    }

    /// <summary>The entries of one chunk of a bulk publish, and the arena their payloads live in until they are sent.</summary>
    private sealed record EncodedChunk(NameValueEntry[][] Fields, PayloadArena Arena);

    private bool FitsByBound(IReadOnlyList<T> messages)
    {
        if (_codec is not IPayloadSizeBound<T> bound)
        {
            return false;
        }

        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is null || bound.MaxPayloadBytes(messages[i]) > _maxPayloadBytes)
            {
                return false;
            }
        }

        return true;
    }

    private static void ObserveRemaining(Task<RedisValue>[] pending, Task? ahead)
    {
        // Observe the faults of commands (and of an encoding ahead) nobody awaits any more.
        foreach (var task in pending)
        {
            task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        ahead?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private Activity? StartActivity(int count)
    {
        if (!StreamsDiagnostics.Source.HasListeners())
        {
            return null;
        }

        var activity = StreamsDiagnostics.Source.StartActivity(StreamName + " publish", ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(StreamsDiagnostics.MessagingSystem, "redis");
            activity.SetTag(StreamsDiagnostics.DestinationName, StreamName);
            activity.SetTag(StreamsDiagnostics.OperationType, "send");
            if (count > 1)
            {
                activity.SetTag(StreamsDiagnostics.BatchCount, count);
            }
        }

        return activity;
    }

    private void RecordFailure(Activity? activity, Exception exception)
    {
        _logger.PublishFailed(exception, StreamName);
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception.Message);
            activity.SetTag(StreamsDiagnostics.ErrorType, exception.GetType().FullName);
            activity.AddException(exception);
        }
    }

    private NameValueEntry[] Encode(T message, Activity? activity, PayloadArena? arena = null)
    {
        var context = activity ?? Activity.Current;
        var traceParent = context is { IdFormat: ActivityIdFormat.W3C } ? context.Id : null;
        var traceState = traceParent is null ? null : context!.TraceStateString;
        var reserve = 1 + (traceParent is null ? 0 : 1) + (traceState is null ? 0 : 1);

        // The codec's fields and the ones added here share one array when the codec can leave room for them.
        NameValueEntry[] fields;
        int own;
        if (_codec is IEnvelopeEncoder<T> envelope)
        {
            fields = envelope.Encode(message, reserve, arena);
            own = fields.Length - reserve;
        }
        else
        {
            var encoded = _codec.Encode(message);
            fields = new NameValueEntry[encoded.Length + reserve];
            encoded.CopyTo(fields, 0);
            own = encoded.Length;
        }

        // The slots still empty count for nothing.
        var size = new EntryFields(fields).PayloadSize();
        if (size > _maxPayloadBytes)
        {
            throw new PayloadTooLargeException(size, _maxPayloadBytes);
        }

        var i = own;
        fields[i++] = new(WireFields.PublishedAt, _timeProvider.GetUtcNow().ToUnixTimeSeconds());
        if (traceParent is not null)
        {
            fields[i++] = new(WireFields.TraceParent, traceParent);
        }

        if (traceState is not null)
        {
            fields[i] = new(WireFields.TraceState, traceState);
        }

        return fields;
    }
}
