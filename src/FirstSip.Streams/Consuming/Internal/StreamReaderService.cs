using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// A consumer-group reader run as a hosted service: reads entries, runs the handler for each with bounded
/// concurrency, acknowledges after success, reclaims idle entries, renews its own, and dead-letters poison.
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <typeparam name="THandler">The handler, resolved from a new scope for each message.</typeparam>
internal sealed partial class StreamReaderService<TMessage, THandler> : BackgroundService
    where THandler : class, IStreamMessageHandler<TMessage>
{
    private static readonly RedisValue AutoClaimStart = "0-0";
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly string _name;
    private readonly StreamReaderOptions _options;
    private readonly PluginStreamsOptions _streamsOptions;
    private readonly IConnectionMultiplexer _connection;
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly IStreamEntryCodec<TMessage> _codec;
    private readonly StreamsMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly ReaderRegistry _registry;
    private readonly RedisKey _key;
    private readonly RedisValue _group;
    private readonly RedisKey _deadKey;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, Task?> _inFlight = new(StringComparer.Ordinal);
    private readonly Channel<RedisValue> _acks = Channel.CreateUnbounded<RedisValue>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _handlerCancellation = new();
    private readonly CancellationTokenSource _upkeepCancellation = new();
    private readonly ReaderState _state;
    private ConnectionMultiplexer? _blockingConnection;
    private int _recoveryRequested = 1;

    public StreamReaderService(
        string name,
        IOptionsMonitor<StreamReaderOptions> readerOptions,
        IOptions<PluginStreamsOptions> streamsOptions,
        IConnectionMultiplexer connection,
        IServiceScopeFactory scopeFactory,
        IStreamEntryCodec<TMessage> codec,
        StreamsMetrics metrics,
        ILoggerFactory loggerFactory,
        TimeProvider timeProvider,
        ReaderRegistry registry)
    {
        _name = name;
        _options = readerOptions.Get(name);
        _streamsOptions = streamsOptions.Value;
        _connection = connection;
        _scopeFactory = scopeFactory;
        _codec = codec;
        _metrics = metrics;
        _logger = loggerFactory.CreateLogger("FirstSip.Streams.StreamReader");
        _timeProvider = timeProvider;
        _registry = registry;
        StreamName = _options.StreamName;
        GroupName = _options.GroupName;
        ConsumerName = string.IsNullOrWhiteSpace(_options.ConsumerName) ? CreateConsumerName() : _options.ConsumerName;
        _key = StreamName;
        _group = GroupName;
        _deadKey = _options.DeadLetterStream ?? StreamName + ":dead";
        _slots = new SemaphoreSlim(_options.Concurrency, _options.Concurrency);
        _state = new ReaderState(name, StreamName, GroupName, ConsumerName, _options.StalledAfter, _options.LagThreshold, timeProvider.GetTimestamp());
    }

    public string StreamName { get; }

    public string GroupName { get; }

    public string ConsumerName { get; }

    private IDatabase Database => _connection.GetDatabase();

    /// <summary>Asks the read loop to read this consumer's own pending entries (from id 0) before new ones.</summary>
    private void RequestRecovery() => Volatile.Write(ref _recoveryRequested, 1);

    public override void Dispose()
    {
        _blockingConnection?.Dispose();
        _handlerCancellation.Dispose();
        _upkeepCancellation.Dispose();
        _slots.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _logger.ReaderStarting(_name, StreamName, GroupName, ConsumerName, _options.ReadMode, _options.Concurrency);
        _state.MarkLoop(_timeProvider.GetTimestamp());
        _registry.Add(_state);
        var ackLoop = Task.Run(RunAckLoopAsync, CancellationToken.None);
        Task? claimLoop = null;
        Task? renewLoop = null;
        try
        {
            if (!await EnsureGroupWithRetryAsync(stoppingToken).ConfigureAwait(false))
            {
                return;
            }

            claimLoop = Task.Run(() => RunClaimLoopAsync(_upkeepCancellation.Token), CancellationToken.None);
            renewLoop = Task.Run(() => RunRenewLoopAsync(_upkeepCancellation.Token), CancellationToken.None);
            await ReadLoopAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            await DrainAsync().ConfigureAwait(false);
            await _upkeepCancellation.CancelAsync().ConfigureAwait(false);
            _acks.Writer.TryComplete();
            await ackLoop.ConfigureAwait(false);
            if (claimLoop is not null)
            {
                await claimLoop.ConfigureAwait(false);
            }

            if (renewLoop is not null)
            {
                await renewLoop.ConfigureAwait(false);
            }

            if (_blockingConnection is not null)
            {
                await _blockingConnection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            }

            _registry.Remove(_name);
            _logger.ReaderStopped(_name, StreamName);
        }
    }

    private static string CreateConsumerName()
    {
        Span<byte> random = stackalloc byte[4];
        RandomNumberGenerator.Fill(random);
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}-{Convert.ToHexStringLower(random)}");
    }

    private async Task<bool> EnsureGroupWithRetryAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await EnsureGroupAsync().ConfigureAwait(false);
                return true;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _state.LastError = ex.Message;
                _logger.ReadFailed(ex, StreamName, GroupName, delay);
                if (!await DelayAsync(delay, stoppingToken).ConfigureAwait(false))
                {
                    return false;
                }

                delay = NextDelay(delay);
            }
        }

        return false;
    }

    private async Task EnsureGroupAsync()
    {
        try
        {
            // From the beginning: entries published before the group existed are delivered too.
            await Database.StreamCreateConsumerGroupAsync(_key, _group, StreamPosition.Beginning, createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // The group exists already: creation is idempotent.
        }

        _logger.GroupReady(GroupName, StreamName);
    }

    private static TimeSpan NextDelay(TimeSpan delay)
        => delay * 2 > MaxRetryDelay ? MaxRetryDelay : delay * 2;

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task DrainAsync()
    {
        var running = _inFlight.Values.Where(static t => t is not null).Select(static t => t!).ToArray();
        if (running.Length == 0)
        {
            return;
        }

        var all = Task.WhenAll(running);
        var grace = Task.Delay(_options.ShutdownGracePeriod, _timeProvider, CancellationToken.None);
        if (await Task.WhenAny(all, grace).ConfigureAwait(false) != all)
        {
            _logger.HandlersCancelled(_name, _inFlight.Count, _options.ShutdownGracePeriod);
            await _handlerCancellation.CancelAsync().ConfigureAwait(false);

            // Handlers that ignore cancellation are not waited for forever; their entries stay pending.
            await Task.WhenAny(all, Task.Delay(_options.ShutdownGracePeriod, _timeProvider, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private async Task RunAckLoopAsync()
    {
        var reader = _acks.Reader;
        var batch = new List<RedisValue>(256);
        var failures = 0;
        while (batch.Count > 0 || await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < 4096 && reader.TryRead(out var id))
            {
                batch.Add(id);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await Database.StreamAcknowledgeAsync(_key, _group, [.. batch]).ConfigureAwait(false);
                batch.Clear();
                failures = 0;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _logger.AckFailed(ex, batch.Count, StreamName);
                if (++failures >= 5 && reader.Completion.IsCompleted)
                {
                    // Stopping and Redis is gone: the entries stay pending and are delivered again later.
                    batch.Clear();
                    break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100 * Math.Min(failures, 20)), _timeProvider).ConfigureAwait(false);
            }
        }
    }
}
