using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// Every <see cref="StreamOperationsOptions.ConsumerSweepInterval"/>, removes the consumers of the plugin streams' groups
/// (the workers' group on the request stream, the application's group on the result and event streams) that hold
/// nothing, were idle for <see cref="StreamOperationsOptions.ConsumerIdleTime"/> and have no worker registry key.
/// Consumer names are unique per process, so every restart leaves one behind.
/// </summary>
internal sealed class StaleConsumerSweeper : BackgroundService
{
    private readonly IStreamOperations _operations;
    private readonly IOptions<PluginStreamsOptions> _streams;
    private readonly IOptions<StreamOperationsOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<StaleConsumerSweeper> _logger;

    public StaleConsumerSweeper(
        IStreamOperations operations,
        IOptions<PluginStreamsOptions> streams,
        IOptions<StreamOperationsOptions> options,
        TimeProvider timeProvider,
        ILogger<StaleConsumerSweeper> logger)
    {
        _operations = operations;
        _streams = streams;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Sweeps the three plugin streams once.</summary>
    /// <returns>The consumers removed.</returns>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken)
    {
        var streams = _streams.Value;
        var idle = _options.Value.ConsumerIdleTime;
        var removed = 0;
        foreach (var (stream, group) in new[] { (streams.RequestsStream, streams.WorkerGroup), (streams.ResultsStream, streams.AppGroup), (streams.EventsStream, streams.AppGroup) })
        {
            try
            {
                removed += (await _operations.RemoveStaleConsumersAsync(stream, group, idle, cancellationToken).ConfigureAwait(false)).Count;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                _logger.ConsumerSweepFailed(ex, stream, group);
            }
        }

        return removed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.Value.ConsumerSweepInterval is not { } interval || interval <= TimeSpan.Zero)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _timeProvider, stoppingToken).ConfigureAwait(false);
                await SweepOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }
}

/// <summary>Checks the data annotations of <see cref="StreamOperationsOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class StreamOperationsOptionsValidator : IValidateOptions<StreamOperationsOptions>
{
}

/// <summary>Rules of <see cref="StreamOperationsOptions"/> that the annotations cannot express.</summary>
internal sealed class StreamOperationsOptionsCustomValidator : IValidateOptions<StreamOperationsOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamOperationsOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.ConsumerSweepInterval is { } interval && interval <= TimeSpan.Zero)
        {
            builder.AddError("StreamOperationsOptions.ConsumerSweepInterval must be positive, or null to turn the sweeper off.");
        }

        return builder.Build();
    }
}
