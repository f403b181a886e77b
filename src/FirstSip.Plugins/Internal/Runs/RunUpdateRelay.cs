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
/// Pub/sub delivers at most once: a watcher re-reads the run's row for what a dropped connection lost.
/// </summary>
internal sealed class RunUpdateRelay(IServiceProvider services, IOptions<PluginStreamsOptions> streamsOptions, ILogger<RunUpdateRelay> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly string _origin = Guid.NewGuid().ToString("N");
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

    /// <summary>Publishes an update this process made, without waiting and without throwing.</summary>
    public void Send(PluginRunUpdate update)
    {
        try
        {
            var redis = services.GetService<IConnectionMultiplexer>();
            if (redis is null || !redis.IsConnected)
            {
                return;
            }

            var message = Serialize(update, _origin);
            redis.GetSubscriber().Publish(Channel, message, CommandFlags.FireAndForget);
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

        RelayedUpdate? relayed;
        try
        {
            relayed = JsonSerializer.Deserialize<RelayedUpdate>((string)value!, Json);
        }
        catch (JsonException)
        {
            return;
        }

        if (relayed is null || relayed.Origin == _origin)
        {
            return;
        }

        _deliver?.Invoke(relayed.ToUpdate());
    }

    /// <summary>The message of an update sent by the process <paramref name="origin"/>.</summary>
    internal static string Serialize(PluginRunUpdate update, string origin) => JsonSerializer.Serialize(RelayedUpdate.From(update, origin), Json);

    /// <summary>How every message of the process <paramref name="origin"/> begins, in UTF-8.</summary>
    internal static byte[] StartOf(string origin) => Encoding.UTF8.GetBytes($"{{\"origin\":\"{origin}\"");

    /// <summary>An update on the channel: the public record's fields, its version and event id, and the sending process.</summary>
    internal sealed record RelayedUpdate(
        string Origin,
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
        public static RelayedUpdate From(PluginRunUpdate update, string origin) => new(
            origin, update.RunId, update.Kind, update.Status, update.Attempt, update.LastStep, update.ProgressKind,
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
