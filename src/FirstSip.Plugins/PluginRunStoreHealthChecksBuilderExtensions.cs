using FirstSip.Plugins.Internal.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the FirstSip run store health check.</summary>
public static class PluginRunStoreHealthChecksBuilderExtensions
{
    /// <summary>The threshold <see cref="AddPluginRunStore"/> uses when none is given.</summary>
    public static readonly TimeSpan DefaultPendingThreshold = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Adds a health check that reports runs still <c>pending</c> (written, not yet published) longer than
    /// <paramref name="pendingThreshold"/>: no process of the application dispatches them, because no host runs the
    /// app side or Redis is unreachable. Runs waiting for a retry are counted from their retry time.
    /// Runs waiting for a worker (<c>dispatched</c>) are a queue, not a fault, and are not counted.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="pendingThreshold">How long a run may stay pending; <see cref="DefaultPendingThreshold"/> (1 minute) when null.</param>
    /// <param name="failureStatus">The status reported when runs are pending too long; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags for filtering checks, for example <c>ready</c>.</param>
    /// <returns>The health checks builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pendingThreshold"/> is not positive.</exception>
    public static IHealthChecksBuilder AddPluginRunStore(
        this IHealthChecksBuilder builder,
        string name = "firstsip-runs",
        TimeSpan? pendingThreshold = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var threshold = pendingThreshold ?? DefaultPendingThreshold;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(threshold, TimeSpan.Zero, nameof(pendingThreshold));
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => ActivatorUtilities.CreateInstance<PendingRunsHealthCheck>(sp, threshold),
            failureStatus,
            tags));
    }
}
