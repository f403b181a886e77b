using FirstSip.Streams.Internal;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds the FirstSip streams health check.
/// </summary>
public static class PluginStreamsHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check that reports Redis reachability (PING), readers whose loop has stalled
    /// (<see cref="FirstSip.Streams.StreamReaderOptions.StalledAfter"/>), and groups whose lag is over
    /// <see cref="FirstSip.Streams.StreamReaderOptions.LagThreshold"/> (degraded).
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">The status reported when Redis is unreachable or a reader stalled; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags for filtering checks, for example <c>ready</c>.</param>
    /// <returns>The health checks builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static IHealthChecksBuilder AddPluginStreams(
        this IHealthChecksBuilder builder,
        string name = "firstsip-streams",
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        builder.Services.AddPluginStreams();
        return builder.Add(new HealthCheckRegistration(
            name,
            static sp => ActivatorUtilities.CreateInstance<PluginStreamsHealthCheck>(sp),
            failureStatus,
            tags));
    }
}
