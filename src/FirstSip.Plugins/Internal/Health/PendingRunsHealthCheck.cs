using System.Globalization;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FirstSip.Plugins.Internal.Health;

/// <summary>Unhealthy (or the registration's failure status) while runs stay pending longer than a threshold.</summary>
internal sealed class PendingRunsHealthCheck(IServiceScopeFactory scopeFactory, TimeProvider timeProvider, TimeSpan threshold) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var since = timeProvider.GetUtcNow() - threshold;
        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var runs = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Runs.AsNoTracking()
                .Where(r => r.Status == PluginRunStatus.Pending && r.CreatedAt < since && (r.NextAttemptAt == null || r.NextAttemptAt < since));
            var count = await runs.CountAsync(cancellationToken).ConfigureAwait(false);
            var data = new Dictionary<string, object>
            {
                ["pending_threshold_s"] = threshold.TotalSeconds,
                ["pending_too_long"] = count,
            };
            if (count == 0)
            {
                return HealthCheckResult.Healthy("no run is pending longer than the threshold", data);
            }

            var oldest = await runs.OrderBy(r => r.CreatedAt).Select(r => r.CreatedAt).FirstAsync(cancellationToken).ConfigureAwait(false);
            data["oldest_pending_since"] = oldest.ToString("O", CultureInfo.InvariantCulture);
            return new HealthCheckResult(
                context.Registration.FailureStatus,
                $"{count} runs are pending for longer than {threshold.TotalSeconds:0} s (the oldest since {oldest:O}): no process publishes them; " +
                "start a host that runs the app side (its dispatcher), or make Redis reachable",
                data: data);
        }
    }
}
