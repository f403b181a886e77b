using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// Trims the three plugin streams of acknowledged entries every <see cref="PluginStreamsOptions.TrimInterval"/>, the event stream
/// of entries older than <see cref="PluginStreamsOptions.EventRetention"/>, and the dead-letter streams by their retention.
/// </summary>
internal sealed class PeriodicStreamTrimmer : BackgroundService
{
    private readonly IStreamTrimmer _trimmer;
    private readonly PluginStreamsOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<PeriodicStreamTrimmer> _logger;

    public PeriodicStreamTrimmer(IStreamTrimmer trimmer, IOptions<PluginStreamsOptions> options, TimeProvider timeProvider, ILogger<PeriodicStreamTrimmer> logger)
    {
        _trimmer = trimmer;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.TrimInterval is not { } interval || interval <= TimeSpan.Zero)
        {
            return;
        }

        string[] streams = [_options.RequestsStream, _options.ResultsStream, _options.EventsStream];
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            foreach (var stream in streams)
            {
                try
                {
                    await _trimmer.TrimAcknowledgedAsync(stream, stoppingToken).ConfigureAwait(false);
                    if (stream == _options.EventsStream && _options.EventRetention is { } eventRetention)
                    {
                        await _trimmer.TrimOlderThanAsync(stream, eventRetention, stoppingToken).ConfigureAwait(false);
                    }

                    if (_options.DeadLetterRetention is { } retention)
                    {
                        await _trimmer.TrimOlderThanAsync(stream + ":dead", retention, stoppingToken).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    _logger.TrimFailed(ex, stream);
                }
            }
        }
    }
}
