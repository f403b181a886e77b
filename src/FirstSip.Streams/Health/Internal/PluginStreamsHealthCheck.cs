using System.Globalization;
using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Redis reachable (PING), every reader's loop alive, and every group's lag under its threshold.</summary>
internal sealed class PluginStreamsHealthCheck : IHealthCheck
{
    private readonly IConnectionMultiplexer _connection;
    private readonly ReaderRegistry _readers;
    private readonly TimeProvider _timeProvider;

    public PluginStreamsHealthCheck(IConnectionMultiplexer connection, ReaderRegistry readers, TimeProvider timeProvider)
    {
        _connection = connection;
        _readers = readers;
        _timeProvider = timeProvider;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        try
        {
            var latency = await _connection.GetDatabase().PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            data["redis.ping_ms"] = latency.TotalMilliseconds;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "Redis is not reachable: " + ex.Message, ex, data);
        }

        var stalled = new StringBuilder();
        var lagging = new StringBuilder();
        foreach (var reader in _readers.Snapshot())
        {
            var idle = _timeProvider.GetElapsedTime(reader.LastLoopTimestamp);
            data[$"reader.{reader.Name}.idle_s"] = Math.Round(idle.TotalSeconds, 3);
            if (reader.Lag is { } lag)
            {
                data[$"reader.{reader.Name}.lag"] = lag;
                if (lag > reader.LagThreshold)
                {
                    lagging.Append(CultureInfo.InvariantCulture, $"group {reader.GroupName} on {reader.StreamName} lags {lag} entries (threshold {reader.LagThreshold}); ");
                }
            }

            if (idle > reader.StalledAfter)
            {
                stalled.Append(CultureInfo.InvariantCulture, $"reader {reader.Name} on {reader.StreamName} has not looped for {idle.TotalSeconds:F0} s");
                if (reader.LastError is { } error)
                {
                    stalled.Append(CultureInfo.InvariantCulture, $" (last error: {error})");
                }

                stalled.Append("; ");
            }
        }

        if (stalled.Length > 0)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, stalled.Append(lagging).ToString().TrimEnd(' ', ';'), null, data);
        }

        if (lagging.Length > 0)
        {
            return HealthCheckResult.Degraded(lagging.ToString().TrimEnd(' ', ';'), null, data);
        }

        return HealthCheckResult.Healthy("Redis reachable; readers running", data);
    }
}
