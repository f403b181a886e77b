using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>
/// The hosted scheduler. Each cycle reads the due schedules by the next-fire-time index, a batch at a time, and writes a
/// batch in one transaction: each schedule's row moves to its next fire time on the condition that its version did not
/// move (the claim: one replica wins), and the runs its misfire and overlap policies allow are inserted beside it, pending,
/// for the dispatcher (the outbox; idempotency key: schedule id and occurrence). When a claim of the batch fails, nothing
/// of it is written and each schedule is claimed on its own transaction instead. A schedule whose plugin disappeared or
/// whose settings stopped being valid is paused with the reason.
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
                if (due.Count > 0 && await FireBatchAsync(scope.ServiceProvider, due, now, cancellationToken).ConfigureAwait(false) is { } batch)
                {
                    started += batch;
                    claimed = due.Count;
                }
                else
                {
                    // Another replica (or a caller) changed one of them first: each is claimed on its own, and the lost ones are left alone.
                    db.Context.ChangeTracker.Clear();
                    foreach (var schedule in due)
                    {
                        var outcome = await FireAsync(scope.ServiceProvider, schedule, now, cancellationToken).ConfigureAwait(false);
                        started += outcome.Started;
                        claimed += outcome.Claimed ? 1 : 0;
                    }
                }

                // A full batch may hide more due schedules; a batch in which nothing was claimed means other replicas are on it.
                if (due.Count < batchSize || claimed == 0)
                {
                    return started;
                }
            }
        }
    }

    /// <summary>
    /// Fires a batch of due schedules in one transaction and one save: each schedule's row is updated on the condition that
    /// its version did not move (the claim), and its runs are inserted beside it. When any claim fails, nothing is written
    /// and the caller fires the batch schedule by schedule.
    /// </summary>
    /// <returns>How many runs were started, or <see langword="null"/> when the batch was not written.</returns>
    private async Task<int?> FireBatchAsync(IServiceProvider services, List<PluginSchedule> due, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (services.GetRequiredService<IPluginRunner>() is not Runs.PluginRunner runner)
        {
            return null;
        }

        var db = services.GetRequiredService<RunDbContextAccessor>();
        var plans = new List<(PluginSchedule Schedule, FirePlan? Plan, string? Problem)>(due.Count);
        foreach (var schedule in due)
        {
            try
            {
                plans.Add((schedule, Plan(schedule, now), null));
            }
            catch (InvalidPluginScheduleException ex)
            {
                plans.Add((schedule, null, ex.Problem));
            }
        }

        // The previous runs that have not ended, for the overlap policies: one query for the batch.
        var previousIds = plans
            .Where(p => p.Plan is { Fire.Count: > 0 } && p.Schedule.LastRunId is not null && p.Schedule.OverlapPolicy != PluginScheduleOverlapPolicy.Allow)
            .Select(p => p.Schedule.LastRunId!.Value)
            .ToList();
        var active = previousIds.Count == 0
            ? []
            : (await db.Runs.AsNoTracking()
                .Where(r => previousIds.Contains(r.RunId) && (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running))
                .Select(r => r.RunId)
                .ToListAsync(cancellationToken)
                .ConfigureAwait(false)).ToHashSet();

        var fired = new List<(PluginSchedule Schedule, FirePlan Plan, List<(DateTimeOffset Occurrence, PluginRun Run)> Runs, long OverlapSkipped, List<Guid> ToCancel)>();
        var paused = new List<(PluginSchedule Schedule, string Reason)>();
        var transaction = await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            try
            {
                foreach (var (schedule, plan, problem) in plans)
                {
                    var row = Copy(schedule);
                    db.Schedules.Attach(row);
                    row.Version = schedule.Version + 1;
                    var reason = problem;
                    var runs = new List<(DateTimeOffset Occurrence, PluginRun Run)>();
                    var toCancel = new List<Guid>();
                    long overlapSkipped = 0;
                    if (plan is not null)
                    {
                        var previous = schedule.LastRunId;
                        var previousActive = previous is { } previousId && active.Contains(previousId);
                        foreach (var occurrence in plan.Fire)
                        {
                            if (previousActive && schedule.OverlapPolicy == PluginScheduleOverlapPolicy.Skip)
                            {
                                overlapSkipped++;
                                continue;
                            }

                            if (previousActive && schedule.OverlapPolicy == PluginScheduleOverlapPolicy.CancelPrevious)
                            {
                                toCancel.Add(previous!.Value);
                            }

                            try
                            {
                                var run = runner.Prepare(Request(schedule, occurrence), now);
                                runs.Add((occurrence, run));
                                previous = run.RunId;
                                previousActive = true;
                            }
                            catch (Exception ex) when (ex is UnknownPluginException or InvalidPluginSettingsException or PluginSecretsException or PluginManifestException)
                            {
                                reason = PauseReason(schedule, ex);
                                break;
                            }
                        }
                    }

                    if (reason is not null)
                    {
                        row.Enabled = false;
                        row.NextFireAt = null;
                        row.PausedReason = Truncate(reason);
                        paused.Add((schedule, reason));
                        continue;
                    }

                    row.NextFireAt = plan!.Next;
                    if (runs.Count > 0)
                    {
                        row.LastRunId = runs[^1].Run.RunId;
                        row.LastFireAt = runs[^1].Occurrence;
                        db.Runs.AddRange(runs.Select(r => r.Run));
                    }

                    fired.Add((schedule, plan, runs, overlapSkipped, toCancel));
                }

                await db.Context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (DbUpdateConcurrencyException)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }
            finally
            {
                db.Context.ChangeTracker.Clear();
            }
        }

        var started = 0;
        foreach (var (schedule, reason) in paused)
        {
            PluginRunsMetrics.Add(metrics.Paused, schedule.PluginName);
            logger.ScheduleAutoPaused(schedule.ScheduleId, schedule.PluginName, reason);
        }

        foreach (var (schedule, plan, runs, overlapSkipped, toCancel) in fired)
        {
            foreach (var (_, run) in runs)
            {
                runner.Announce(run, now);
            }

            started += runs.Count;
            await AfterFireAsync(runner, schedule, plan, runs, overlapSkipped, toCancel, now, cancellationToken).ConfigureAwait(false);
        }

        return started;
    }

    private FirePlan Plan(PluginSchedule schedule, DateTimeOffset now) =>
        FirePlan.Create(
            PluginScheduleCron.Parse(schedule.CronExpression),
            PluginScheduleCron.FindZone(schedule.TimeZone),
            schedule.NextFireAt!.Value,
            now,
            options.Value.MisfireThreshold,
            schedule.MisfirePolicy,
            schedule.MaxMisfireRuns);

    private static StartPluginRunRequest Request(PluginSchedule schedule, DateTimeOffset occurrence) => new()
    {
        PluginName = schedule.PluginName,
        UserId = schedule.UserId,
        Settings = JsonNode.Parse(schedule.Settings) as JsonObject,
        IdempotencyKey = OccurrenceKey(schedule.ScheduleId, occurrence),
    };

    private static string PauseReason(PluginSchedule schedule, Exception ex) => ex switch
    {
        UnknownPluginException => $"plugin {schedule.PluginName} is no longer in the catalog",
        InvalidPluginSettingsException invalid => $"its settings are no longer valid for plugin {schedule.PluginName}: {string.Join("; ", invalid.Errors)}",
        _ => ex.Message,
    };

    private static PluginSchedule Copy(PluginSchedule s) => new()
    {
        ScheduleId = s.ScheduleId,
        UserId = s.UserId,
        PluginName = s.PluginName,
        Settings = s.Settings,
        CronExpression = s.CronExpression,
        TimeZone = s.TimeZone,
        Enabled = s.Enabled,
        PausedReason = s.PausedReason,
        MisfirePolicy = s.MisfirePolicy,
        MaxMisfireRuns = s.MaxMisfireRuns,
        OverlapPolicy = s.OverlapPolicy,
        NextFireAt = s.NextFireAt,
        LastFireAt = s.LastFireAt,
        LastRunId = s.LastRunId,
        CreatedAt = s.CreatedAt,
        UpdatedAt = s.UpdatedAt,
        Version = s.Version,
    };

    /// <summary>Telemetry and logs of a committed fire, and the cancels of the overlap policy <c>cancel_previous</c>.</summary>
    private async Task AfterFireAsync(
        IPluginRunner runner,
        PluginSchedule schedule,
        FirePlan plan,
        List<(DateTimeOffset Occurrence, PluginRun Run)> started,
        long overlapSkipped,
        List<Guid> toCancel,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
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
    }

    private async Task<(bool Claimed, int Started)> FireAsync(IServiceProvider services, PluginSchedule schedule, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var db = services.GetRequiredService<RunDbContextAccessor>();
        var runner = services.GetRequiredService<IPluginRunner>();
        FirePlan plan;
        try
        {
            plan = Plan(schedule, now);
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

                    var run = await runner.StartAsync(Request(schedule, occurrence), cancellationToken).ConfigureAwait(false);
                    started.Add((occurrence, run));
                    previous = run.RunId;
                    previousActive = !run.Status.IsTerminal();
                }
            }
            catch (Exception ex) when (ex is UnknownPluginException or InvalidPluginSettingsException or PluginSecretsException or PluginManifestException)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return (await PauseAsync(db, schedule, PauseReason(schedule, ex), cancellationToken).ConfigureAwait(false), 0);
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

        await AfterFireAsync(runner, schedule, plan, started, overlapSkipped, toCancel, now, cancellationToken).ConfigureAwait(false);
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
