using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Publishes typed messages with XADD (no MAXLEN), adding published_at and the trace context.</summary>
internal sealed class StreamPublisher<T> : IStreamPublisher<T>
{
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
        _key = streamName;
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
        // the limit, each message is encoded just before it is sent; otherwise everything is encoded (and checked) first.
        NameValueEntry[][]? encoded = null;
        if (!FitsByBound(messages))
        {
            encoded = new NameValueEntry[messages.Count][];
            for (var i = 0; i < encoded.Length; i++)
            {
                encoded[i] = Encode(messages[i], activity);
            }
        }

        var count = messages.Count;
        var database = _connection.GetDatabase();
        var pending = new Task<RedisValue>[count];
        var ids = new string[count];
        var published = 0;
        try
        {
            for (var i = 0; i < count; i++)
            {
                if (i >= _maxInFlight)
                {
                    // Replies come back in order: waiting on the oldest keeps at most _maxInFlight commands outstanding.
                    var oldest = i - _maxInFlight;
                    ids[oldest] = (await pending[oldest].ConfigureAwait(false)).ToString();
                    published++;
                    cancellationToken.ThrowIfCancellationRequested();
                }

                pending[i] = database.StreamAddAsync(_key, encoded?[i] ?? Encode(messages[i], activity));
            }

            for (var i = Math.Max(0, count - _maxInFlight); i < count; i++)
            {
                ids[i] = (await pending[i].ConfigureAwait(false)).ToString();
                published++;
            }
        }
        catch (RedisException ex)
        {
            ObserveRemaining(pending);
            StreamsMetrics.Add(_metrics.Published, published, StreamName, null);
            RecordFailure(activity, ex);
            throw StreamPublishException.For(StreamName, ex);
        }
        catch (OperationCanceledException)
        {
            ObserveRemaining(pending);
            StreamsMetrics.Add(_metrics.Published, published, StreamName, null);
            throw;
        }

        StreamsMetrics.Add(_metrics.Published, published, StreamName, null);
        return ids;
    }

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

    private static void ObserveRemaining(Task<RedisValue>[] pending)
    {
        foreach (var task in pending)
        {
            // Observe the faults of commands nobody awaits any more.
            task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
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

    private NameValueEntry[] Encode(T message, Activity? activity)
    {
        var own = _codec.Encode(message);
        long size = 0;
        var payload = WireJson.Find(own, WireJson.Payload);
        if (!payload.IsNull)
        {
            size = WireJson.Utf8Length(payload);
        }
        else
        {
            foreach (var field in own)
            {
                size += WireJson.Utf8Length(field.Value);
            }
        }

        if (size > _maxPayloadBytes)
        {
            throw new PayloadTooLargeException(size, _maxPayloadBytes);
        }

        var context = activity ?? Activity.Current;
        var traceParent = context is { IdFormat: ActivityIdFormat.W3C } ? context.Id : null;
        var traceState = traceParent is null ? null : context!.TraceStateString;
        var fields = new NameValueEntry[own.Length + 1 + (traceParent is null ? 0 : 1) + (traceState is null ? 0 : 1)];
        own.CopyTo(fields, 0);
        var i = own.Length;
        fields[i++] = new(WireJson.PublishedAt, _timeProvider.GetUtcNow().ToUnixTimeSeconds());
        if (traceParent is not null)
        {
            fields[i++] = new(WireJson.TraceParent, traceParent);
        }

        if (traceState is not null)
        {
            fields[i] = new(WireJson.TraceState, traceState);
        }

        return fields;
    }
}
