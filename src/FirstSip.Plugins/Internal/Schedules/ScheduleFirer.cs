using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>
/// The hosted scheduler. Each cycle reads the due schedules by the next-fire-time index and, for each one, in one
/// transaction: claims the occurrence by a conditional update of the next fire time (one replica wins), starts the runs
/// its misfire and overlap policies allow through the outbox (idempotency key: schedule id and occurrence), and records
/// the last run. A schedule whose plugin disappeared or whose settings stopped being valid is paused with the reason.
/// </summary>
internal sealed class ScheduleFirer(
    IServiceScopeFactory scopeFactory,
    TimeProvider timeProvider,
    IOptions<PluginSchedulerOptions> options,
    PluginSchedulesMetrics metrics,
    ILogger<ScheduleFirer> logger) : BackgroundService
{
    private readonly LoopFailures _failures = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = options.Value.PollInterval;
            try
            {
                if (!await HasSchedulesAsync().ConfigureAwait(false))
                {
                    logger.SchedulerIdle();
                    return;
                }

                await FireDueOnceAsync(stoppingToken).ConfigureAwait(false);
                if (_failures.Recovered())
                {
                    logger.SchedulerRecovered();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                if (_failures.ShouldLog())
                {
                    logger.SchedulerFailed(ex, _failures.Count);
                }

                wait = _failures.Backoff(wait);
            }

            try
            {
                await Task.Delay(wait, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<bool> HasSchedulesAsync()
    {
        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            return scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().HasSchedules;
        }
    }

    /// <summary>Fires every schedule due now, batch after batch.</summary>
    /// <returns>How many runs were started.</returns>
    internal async Task<int> FireDueOnceAsync(CancellationToken cancellationToken)
    {
        var batchSize = options.Value.BatchSize;
        var started = 0;
        while (true)
        {
            var now = timeProvider.GetUtcNow();
            var scope = scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
                var due = await db.Schedules.AsNoTracking()
                    .Where(s => s.NextFireAt != null && s.NextFireAt <= now)
                    .OrderBy(s => s.NextFireAt)
                    .Take(batchSize)
                    .ToListAsync(cancellationToken)
                    .ConfigureAwait(false);
                var claimed = 0;
                foreach (var schedule in due)
                {
                    var outcome = await FireAsync(scope.ServiceProvider, schedule, now, cancellationToken).ConfigureAwait(false);
                    started += outcome.Started;
                    claimed += outcome.Claimed ? 1 : 0;
                }

                // A full batch may hide more due schedules; a batch in which nothing was claimed means other replicas are on it.
                if (due.Count < batchSize || claimed == 0)
                {
                    return started;
                }
            }
        }
    }

    private async Task<(bool Claimed, int Started)> FireAsync(IServiceProvider services, PluginSchedule schedule, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var db = services.GetRequiredService<RunDbContextAccessor>();
        var runner = services.GetRequiredService<IPluginRunner>();
        FirePlan plan;
        try
        {
            plan = FirePlan.Create(
                PluginScheduleCron.Parse(schedule.CronExpression),
                PluginScheduleCron.FindZone(schedule.TimeZone),
                schedule.NextFireAt!.Value,
                now,
                options.Value.MisfireThreshold,
                schedule.MisfirePolicy,
                schedule.MaxMisfireRuns);
        }
        catch (InvalidPluginScheduleException ex)
        {
            return (await PauseAsync(db, schedule, ex.Problem, cancellationToken).ConfigureAwait(false), 0);
        }

        var version = schedule.Version;
        var due = schedule.NextFireAt;
        var started = new List<(DateTimeOffset Occurrence, PluginRun Run)>();
        var toCancel = new List<Guid>();
        long overlapSkipped = 0;
        var transaction = await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            // The claim: only one scheduler moves the next fire time on from this version.
            var claimed = await db.Schedules
                .Where(s => s.ScheduleId == schedule.ScheduleId && s.Version == version && s.NextFireAt == due)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.NextFireAt, plan.Next).SetProperty(x => x.Version, version + 1), cancellationToken)
                .ConfigureAwait(false);
            if (claimed == 0)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                logger.ScheduleClaimLost(schedule.ScheduleId);
                return (false, 0);
            }

            var previous = schedule.LastRunId;
            var previousActive = previous is { } previousId && await db.Runs.AsNoTracking()
                .AnyAsync(r => r.RunId == previousId && (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running), cancellationToken)
                .ConfigureAwait(false);
            try
            {
                foreach (var occurrence in plan.Fire)
                {
                    if (previousActive)
                    {
                        if (schedule.OverlapPolicy == PluginScheduleOverlapPolicy.Skip)
                        {
                            overlapSkipped++;
                            continue;
                        }

                        if (schedule.OverlapPolicy == PluginScheduleOverlapPolicy.CancelPrevious)
                        {
                            toCancel.Add(previous!.Value);
                        }
                    }

                    var run = await runner.StartAsync(
                        new StartPluginRunRequest
                        {
                            PluginName = schedule.PluginName,
                            UserId = schedule.UserId,
                            Settings = JsonNode.Parse(schedule.Settings) as JsonObject,
                            IdempotencyKey = OccurrenceKey(schedule.ScheduleId, occurrence),
                        },
                        cancellationToken).ConfigureAwait(false);
                    started.Add((occurrence, run));
                    previous = run.RunId;
                    previousActive = !run.Status.IsTerminal();
                }
            }
            catch (Exception ex) when (ex is UnknownPluginException or InvalidPluginSettingsException or PluginSecretsException or PluginManifestException)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                var reason = ex switch
                {
                    UnknownPluginException => $"plugin {schedule.PluginName} is no longer in the catalog",
                    InvalidPluginSettingsException invalid => $"its settings are no longer valid for plugin {schedule.PluginName}: {string.Join("; ", invalid.Errors)}",
                    _ => ex.Message,
                };
                return (await PauseAsync(db, schedule, reason, cancellationToken).ConfigureAwait(false), 0);
            }

            if (started.Count > 0)
            {
                var (lastOccurrence, lastRun) = started[^1];
                await db.Schedules
                    .Where(s => s.ScheduleId == schedule.ScheduleId && s.Version == version + 1)
                    .ExecuteUpdateAsync(
                        s => s.SetProperty(x => x.LastRunId, lastRun.RunId)
                            .SetProperty(x => x.LastFireAt, lastOccurrence)
                            .SetProperty(x => x.Version, version + 2),
                        cancellationToken)
                    .ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var (occurrence, run) in started)
        {
            metrics.CountFired(schedule.PluginName, now - occurrence);
            logger.ScheduleFired(schedule.ScheduleId, occurrence, run.RunId, now - occurrence);
        }

        if (plan.MissedSkipped > 0)
        {
            metrics.CountSkipped(schedule.PluginName, PluginSchedulesMetrics.MisfireReason, plan.MissedSkipped);
            var reason = MisfireReason(schedule.MisfirePolicy);
            logger.ScheduleSkipped(schedule.ScheduleId, plan.MissedSkipped, reason, plan.Next);
        }

        if (overlapSkipped > 0)
        {
            metrics.CountSkipped(schedule.PluginName, PluginSchedulesMetrics.OverlapReason, overlapSkipped);
            logger.ScheduleSkipped(schedule.ScheduleId, overlapSkipped, "the previous run has not ended, overlap policy skip", plan.Next);
        }

        foreach (var runId in toCancel.Distinct())
        {
            if (await runner.CancelAsync(runId, $"superseded by a later occurrence of schedule {schedule.ScheduleId:D}", cancellationToken).ConfigureAwait(false))
            {
                logger.ScheduleCancelledPrevious(schedule.ScheduleId, runId);
            }
        }

        return (true, started.Count);
    }

    /// <summary>Pauses a schedule that cannot fire, with the reason, so it is not tried again every cycle.</summary>
    private async Task<bool> PauseAsync(RunDbContextAccessor db, PluginSchedule schedule, string reason, CancellationToken cancellationToken)
    {
        var version = schedule.Version;
        var changed = await db.Schedules
            .Where(s => s.ScheduleId == schedule.ScheduleId && s.Version == version)
            .ExecuteUpdateAsync(
                s => s.SetProperty(x => x.Enabled, false)
                    .SetProperty(x => x.NextFireAt, (DateTimeOffset?)null)
                    .SetProperty(x => x.PausedReason, Truncate(reason))
                    .SetProperty(x => x.Version, version + 1),
                cancellationToken)
            .ConfigureAwait(false);
        if (changed == 0)
        {
            logger.ScheduleClaimLost(schedule.ScheduleId);
            return false;
        }

        PluginRunsMetrics.Add(metrics.Paused, schedule.PluginName);
        logger.ScheduleAutoPaused(schedule.ScheduleId, schedule.PluginName, reason);
        return true;
    }

    private static string MisfireReason(PluginScheduleMisfirePolicy policy) => policy switch
    {
        PluginScheduleMisfirePolicy.RunOnce => "missed, misfire policy run_once",
        PluginScheduleMisfirePolicy.RunEach => "missed, beyond the cap of misfire policy run_each",
        _ => "missed, misfire policy skip",
    };

    internal static string Truncate(string reason) => reason.Length <= 2000 ? reason : reason[..1997] + "...";

    /// <summary>The idempotency key of one occurrence: the schedule's id and the occurrence's UTC instant.</summary>
    internal static string OccurrenceKey(Guid scheduleId, DateTimeOffset occurrence) =>
        $"schedule:{scheduleId:N}:{occurrence.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}";
}
