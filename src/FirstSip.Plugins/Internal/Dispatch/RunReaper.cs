using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// Ends runs past their deadline as <c>timed_out</c> (and tells the workers to stop them), and dispatches again
/// runs that no worker started within <see cref="PluginRunStoreOptions.StartTimeout"/>, until their last attempt.
/// </summary>
internal sealed class RunReaper(
    IServiceScopeFactory scopeFactory,
    CancelSignaler cancelSignaler,
    DispatchSignal dispatchSignal,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunReaper> logger) : BackgroundService
{
    private const int BatchSize = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReapOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.ReaperFailed(ex);
            }

            try
            {
                await Task.Delay(options.Value.ReaperInterval, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Runs one reaper cycle.</summary>
    /// <returns>How many runs timed out and how many were dispatched again or failed for not starting.</returns>
    internal async Task<(int TimedOut, int NotStarted)> ReapOnceAsync(CancellationToken cancellationToken)
    {
        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
            var timedOut = await TimeOutAsync(db, cancellationToken).ConfigureAwait(false);
            var notStarted = await RedispatchAsync(db, cancellationToken).ConfigureAwait(false);
            return (timedOut, notStarted);
        }
    }

    private async Task<int> TimeOutAsync(RunDbContextAccessor db, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var expired = await db.Runs.AsNoTracking()
            .Where(r => (r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running) && r.Deadline != null && r.Deadline < now)
            .OrderBy(r => r.Deadline)
            .Take(BatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var count = 0;
        foreach (var run in expired)
        {
            var reason = $"timed out: no result within the run's {run.TimeoutSeconds} s timeout (attempt {run.Attempt})";
            var version = run.Version;
            var changed = await db.Runs
                .Where(r => r.RunId == run.RunId && r.Version == version &&
                            (r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running))
                .ExecuteUpdateAsync(
                    s => s.SetProperty(r => r.Status, PluginRunStatus.TimedOut)
                        .SetProperty(r => r.Error, reason)
                        .SetProperty(r => r.CompletedAt, now)
                        .SetProperty(r => r.Version, r => r.Version + 1),
                    cancellationToken)
                .ConfigureAwait(false);
            if (changed == 0)
            {
                continue;
            }

            count++;
            run.Status = PluginRunStatus.TimedOut;
            run.Error = reason;
            run.CompletedAt = now;
            run.Version = version + 1;
            logger.RunTimedOut(run.RunId, reason);
            metrics.Ended(run, PluginRunStatus.TimedOut, now);
            hub.PublishStatus(run, now);
            try
            {
                await cancelSignaler.SignalAsync(run.RunId, reason).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                logger.CancelSignalFailed(ex, run.RunId);
            }
        }

        return count;
    }

    private async Task<int> RedispatchAsync(RunDbContextAccessor db, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var startTimeout = options.Value.StartTimeout;
        var dispatchedBefore = now - startTimeout;
        var stuck = await db.Runs.AsNoTracking()
            .Where(r => r.Status == PluginRunStatus.Dispatched && r.StartedAt == null && r.DispatchedAt != null && r.DispatchedAt < dispatchedBefore)
            .OrderBy(r => r.DispatchedAt)
            .Take(BatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var count = 0;
        foreach (var run in stuck)
        {
            var version = run.Version;
            var runs = db.Runs.Where(r => r.RunId == run.RunId && r.Version == version && r.Status == PluginRunStatus.Dispatched);
            if (run.Attempt < run.MaxAttempts)
            {
                var note = $"not started within {startTimeout} (attempt {run.Attempt}); dispatched again";
                var changed = await runs.ExecuteUpdateAsync(
                        s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                            .SetProperty(r => r.Attempt, r => r.Attempt + 1)
                            .SetProperty(r => r.Error, note)
                            .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                            .SetProperty(r => r.Deadline, (DateTimeOffset?)null)
                            .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                            .SetProperty(r => r.Version, r => r.Version + 1),
                        cancellationToken)
                    .ConfigureAwait(false);
                if (changed == 1)
                {
                    count++;
                    run.Status = PluginRunStatus.Pending;
                    run.Attempt++;
                    run.Version = version + 1;
                    PluginRunsMetrics.Add(metrics.Retried, run.PluginName);
                    logger.RunRedispatched(run.RunId, startTimeout, run.Attempt);
                    hub.PublishStatus(run, now);
                    dispatchSignal.Notify();
                }
            }
            else
            {
                var reason = $"no worker started the run within {startTimeout} ({run.Attempt} attempts)";
                if (await RunTransitions.FailAsync(db, run.RunId, reason, now, version, cancellationToken).ConfigureAwait(false))
                {
                    count++;
                    run.Status = PluginRunStatus.Failed;
                    run.Error = reason;
                    run.CompletedAt = now;
                    run.Version = version + 1;
                    logger.RunNotStarted(run.RunId, reason);
                    metrics.Ended(run, PluginRunStatus.Failed, now);
                    hub.PublishStatus(run, now);
                }
            }
        }

        return count;
    }
}
