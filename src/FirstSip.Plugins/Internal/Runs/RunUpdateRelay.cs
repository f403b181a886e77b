using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Carries run updates between the application's processes over one Redis pub/sub channel per key prefix
/// (<c>{KeyPrefix}run-updates</c>). The process that makes a transition or consumes a progress event publishes it;
/// every process that watches runs subscribes and hands what others published to its own <see cref="RunUpdateHub"/>.
/// Updates made together (a batch's transitions, committed at once) go out together: one message carries every update
/// queued since the last one was sent, in the order they were made. Pub/sub delivers at most once: a watcher re-reads
/// the run's row for what a dropped connection lost.
/// </summary>
internal sealed class RunUpdateRelay(IServiceProvider services, IOptions<PluginStreamsOptions> streamsOptions, ILogger<RunUpdateRelay> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Most updates one message carries.</summary>
    internal const int MaxUpdatesPerMessage = 256;

    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly ConcurrentQueue<PluginRunUpdate> _outbox = new();
    private int _sending;
    private byte[]? _ownStart;
    private readonly Lock _gate = new();
    private Action<PluginRunUpdate>? _deliver;
    private Task? _subscribing;
    private bool _publishFailureLogged;

    private RedisChannel Channel => RedisChannel.Literal(streamsOptions.Value.KeyPrefix + "run-updates");

    /// <summary>Sets where updates from other processes go.</summary>
    public void Attach(Action<PluginRunUpdate> deliver) => _deliver = deliver;

    /// <summary>
    /// Subscribes once (again after a failure); watchers call it when they start, and wait for it (briefly) before
    /// they read the run, so nothing published between the read and the subscription is missed.
    /// </summary>
    /// <returns>A task that completes when the subscription is active (or faults when Redis refused it).</returns>
    public Task EnsureSubscribedAsync()
    {
        lock (_gate)
        {
            if (_subscribing is null || _subscribing.IsFaulted)
            {
                _subscribing = SubscribeAsync();
            }

            return _subscribing;
        }
    }

    /// <summary>
    /// Publishes an update this process made, without waiting and without throwing: it is queued, and a thread-pool item
    /// sends what is queued (this update and any made meanwhile) as one message.
    /// </summary>
    public void Send(PluginRunUpdate update)
    {
        _outbox.Enqueue(update);
        if (Interlocked.Exchange(ref _sending, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static relay => relay.SendQueued(), this, preferLocal: false);
        }
    }

    private void SendQueued()
    {
        var batch = new List<PluginRunUpdate>();
        while (true)
        {
            batch.Clear();
            while (batch.Count < MaxUpdatesPerMessage && _outbox.TryDequeue(out var update))
            {
                batch.Add(update);
            }

            if (batch.Count > 0)
            {
                Publish(batch);
            }

            if (batch.Count == MaxUpdatesPerMessage)
            {
                continue;
            }

            // Done, unless an update was queued after the last look and its sender saw this item still running.
            Volatile.Write(ref _sending, 0);
            if (_outbox.IsEmpty || Interlocked.Exchange(ref _sending, 1) != 0)
            {
                return;
            }
        }
    }

    private void Publish(List<PluginRunUpdate> updates)
    {
        try
        {
            var redis = services.GetService<IConnectionMultiplexer>();
            if (redis is null || !redis.IsConnected)
            {
                return;
            }

            redis.GetSubscriber().Publish(Channel, Serialize(updates, _origin), CommandFlags.FireAndForget);
            _publishFailureLogged = false;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            if (!_publishFailureLogged)
            {
                _publishFailureLogged = true;
                logger.RunUpdateRelayFailed(ex);
            }
        }
    }

    private async Task SubscribeAsync()
    {
        try
        {
            var redis = services.GetRequiredService<IConnectionMultiplexer>();
            var queue = await redis.GetSubscriber().SubscribeAsync(Channel).ConfigureAwait(false);
            queue.OnMessage(message => Receive(message.Message));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            if (!_publishFailureLogged)
            {
                _publishFailureLogged = true;
                logger.RunUpdateRelayFailed(ex);
            }

            throw;
        }
    }

    private void Receive(RedisValue value)
    {
        // This process's own messages come back too: they begin with its origin (the first property written), and are
        // dropped unread. Anything else is parsed, and the origin checked again.
        _ownStart ??= StartOf(_origin);
        if (((ReadOnlyMemory<byte>)value).Span.StartsWith(_ownStart))
        {
            return;
        }

        RelayedUpdates? relayed;
        try
        {
            relayed = JsonSerializer.Deserialize<RelayedUpdates>((string)value!, Json);
        }
        catch (JsonException)
        {
            return;
        }

        if (relayed?.Updates is not { } updates || relayed.Origin == _origin)
        {
            return;
        }

        foreach (var update in updates)
        {
            _deliver?.Invoke(update.ToUpdate());
        }
    }

    /// <summary>The message of updates sent together by the process <paramref name="origin"/>.</summary>
    internal static string Serialize(IReadOnlyList<PluginRunUpdate> updates, string origin) =>
        JsonSerializer.Serialize(new RelayedUpdates(origin, [.. updates.Select(RelayedUpdate.From)]), Json);

    /// <summary>How every message of the process <paramref name="origin"/> begins, in UTF-8.</summary>
    internal static byte[] StartOf(string origin) => Encoding.UTF8.GetBytes($"{{\"origin\":\"{origin}\"");

    /// <summary>A message on the channel: the sending process and the updates it made, in order.</summary>
    internal sealed record RelayedUpdates(string Origin, RelayedUpdate[]? Updates);

    /// <summary>An update on the channel: the public record's fields, its version and event id.</summary>
    internal sealed record RelayedUpdate(
        Guid RunId,
        PluginRunUpdateKind Kind,
        PluginRunStatus Status,
        int Attempt,
        string? LastStep,
        string? ProgressKind,
        string? Step,
        string? Message,
        string? Error,
        DateTimeOffset At,
        long Version,
        string? EventId)
    {
        public static RelayedUpdate From(PluginRunUpdate update) => new(
            update.RunId, update.Kind, update.Status, update.Attempt, update.LastStep, update.ProgressKind,
            update.Step, update.Message, update.Error, update.At, update.Version, update.EventId);

        public PluginRunUpdate ToUpdate() => new()
        {
            RunId = RunId,
            Kind = Kind,
            Status = Status,
            Attempt = Attempt,
            LastStep = LastStep,
            ProgressKind = ProgressKind,
            Step = Step,
            Message = Message,
            Error = Error,
            At = At,
            Version = Version,
            EventId = EventId,
        };
    }
}
