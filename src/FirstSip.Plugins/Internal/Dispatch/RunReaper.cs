using System.Linq.Expressions;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>
/// The app's backstops, each cycle: ends runs past a time limit as <c>timed_out</c> (the execution backstop counted from the
/// worker's start, the queue timeout, the overall deadline); publishes again, as the same attempt, the runs whose request is
/// provably gone from Redis; and sends the stop signals still owed to the workers. Waiting in the queue never creates an attempt.
/// </summary>
internal sealed class RunReaper(
    IServiceScopeFactory scopeFactory,
    IConnectionMultiplexer redis,
    IStreamPublisher<PluginRequest> requests,
    IOptions<PluginStreamsOptions> streamsOptions,
    CancelSignaler stopSignals,
    DispatchSignal dispatchSignal,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunReaper> logger) : BackgroundService
{
    private const int BatchSize = 500;

    private readonly LoopFailures _failures = new();

    /// <summary>Requests seen missing at an earlier check: run id → (entry id, when first seen missing). Used by the reaper's one loop.</summary>
    private Dictionary<Guid, (string EntryId, DateTimeOffset Since)> _missing = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = options.Value.ReaperInterval;
            try
            {
                await ReapOnceAsync(stoppingToken).ConfigureAwait(false);
                if (_failures.Recovered())
                {
                    logger.ReaperRecovered();
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
                    logger.ReaperFailed(ex, _failures.Count);
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

    /// <summary>Runs one reaper cycle.</summary>
    /// <returns>How many runs timed out, how many were published again, and how many stop signals were sent.</returns>
    internal async Task<(int TimedOut, int Republished, int Signalled)> ReapOnceAsync(CancellationToken cancellationToken)
    {
        var scope = scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
            var now = timeProvider.GetUtcNow();
            var timedOut = await TimeOutAsync(db, ExecutionBackstopPassed(now), ExecutionBackstopReason, now, cancellationToken, DeferBackstopAsync).ConfigureAwait(false);
            timedOut += await TimeOutAsync(db, QueueTimeoutPassed(now), QueueTimeoutReason, now, cancellationToken).ConfigureAwait(false);
            timedOut += await TimeOutAsync(db, DeadlinePassed(now), DeadlineReason, now, cancellationToken).ConfigureAwait(false);
            var republished = await RepublishLostAsync(db, now, cancellationToken).ConfigureAwait(false);
            var signalled = await stopSignals.SendOwedAsync(db, cancellationToken).ConfigureAwait(false);
            return (timedOut, republished, signalled);
        }
    }

    private static Expression<Func<PluginRun, bool>> ExecutionBackstopPassed(DateTimeOffset now) =>
        r => r.Status == PluginRunStatus.Running && r.Deadline != null && r.Deadline < now;

    private static Expression<Func<PluginRun, bool>> QueueTimeoutPassed(DateTimeOffset now) =>
        r => (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched) && r.QueueDeadline != null && r.QueueDeadline < now;

    private static Expression<Func<PluginRun, bool>> DeadlinePassed(DateTimeOffset now) =>
        r => (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running) &&
             r.ExpiresAt != null && r.ExpiresAt < now;

    private string ExecutionBackstopReason(PluginRun run, DateTimeOffset now) =>
        $"timed out: no result within {run.TimeoutSeconds} s of its start, plus {options.Value.DeadlineGracePeriod.TotalSeconds:0.#} s of grace (attempt {run.Attempt}); the worker died or stalled";

    private static string QueueTimeoutReason(PluginRun run, DateTimeOffset now)
    {
        var queuedAt = run.QueueDeadline!.Value - TimeSpan.FromSeconds(run.QueueTimeoutSeconds ?? 0);
        return $"never started: no worker took the run within its queue timeout of {run.QueueTimeoutSeconds} s (it waited {Describe(now - queuedAt)})";
    }

    private static string DeadlineReason(PluginRun run, DateTimeOffset now) =>
        run.StartedAt is null
            ? $"never started: the run's deadline {run.ExpiresAt:u} passed before a worker took it"
            : $"timed out: the run's deadline {run.ExpiresAt:u} passed while it executed (attempt {run.Attempt})";

    private static string Describe(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min" : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds} s" : $"{span.TotalSeconds:0} s";

    private async Task<int> TimeOutAsync(
        RunDbContextAccessor db,
        Expression<Func<PluginRun, bool>> passed,
        Func<PluginRun, DateTimeOffset, string> reasonOf,
        DateTimeOffset now,
        CancellationToken cancellationToken,
        Func<RunDbContextAccessor, List<PluginRun>, DateTimeOffset, CancellationToken, Task<HashSet<Guid>>>? deferred = null)
    {
        var expired = await db.Runs.AsNoTracking()
            .Where(passed)
            .OrderBy(r => r.CreatedAt)
            .Take(BatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var kept = deferred is null || expired.Count == 0 ? [] : await deferred(db, expired, now, cancellationToken).ConfigureAwait(false);
        var count = 0;
        foreach (var run in expired.Where(r => !kept.Contains(r.RunId)))
        {
            var reason = reasonOf(run, now);
            var version = run.Version;
            var changed = await db.Runs
                .Where(r => r.RunId == run.RunId && r.Version == version)
                .Where(passed)
                .ExecuteUpdateAsync(
                    s => s.SetProperty(r => r.Status, PluginRunStatus.TimedOut)
                        .SetProperty(r => r.Error, reason)
                        .SetProperty(r => r.CompletedAt, now)
                        .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                        .SetProperty(r => r.StopSignalPending, true)
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
            await stopSignals.SendAsync(db, run.RunId, reason, cancellationToken).ConfigureAwait(false);
        }

        return count;
    }

    /// <summary>
    /// Decides which runs past their execution backstop are not timed out yet, because their execution can still be
    /// recovered: the request is pending in the workers' group but idle for at least the grace period (no worker renews
    /// it: the one that held it died or stalled, and another reclaims and runs it again, resetting the backstop), or it is
    /// no longer pending and a result is on its way (the <c>done</c> key) or Redis lost it (the lost-request check
    /// publishes it again). A request a live worker keeps renewing past the backstop is a worker that overran: the run
    /// times out. While Redis cannot be asked, nothing is timed out. Deferred runs get a new backstop one grace period on.
    /// </summary>
    private async Task<HashSet<Guid>> DeferBackstopAsync(RunDbContextAccessor db, List<PluginRun> runs, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var grace = options.Value.DeadlineGracePeriod;
        var deferred = new HashSet<Guid>();
        if (!redis.IsConnected)
        {
            deferred.UnionWith(runs.Select(r => r.RunId));
        }
        else
        {
            var database = redis.GetDatabase();
            var stream = (RedisKey)requests.StreamName;
            var group = streamsOptions.Value.WorkerGroup;
            var checks = runs.Where(r => r.RequestId is not null).Select(run => (
                    Run: run,
                    Pending: database.StreamPendingMessagesAsync(stream, group, 1, RedisValue.Null, run.RequestId, run.RequestId),
                    Done: database.KeyExistsAsync(stopSignals.RunKey(run.RunId, "done")),
                    Entry: database.StreamRangeAsync(stream, run.RequestId, run.RequestId, 1)))
                .ToList();
            foreach (var (run, pending, done, entry) in checks)
            {
                try
                {
                    var info = await PendingOrNoneAsync(pending).ConfigureAwait(false);
                    var reason = info.Length > 0
                        ? (info[0].IdleTimeInMilliseconds >= grace.TotalMilliseconds ? $"its request is pending with {info[0].ConsumerName}, idle {info[0].IdleTimeInMilliseconds / 1000} s: the worker died or stalled, and another one takes the run over" : null)
                        : await done.ConfigureAwait(false) ? "its result is on its way"
                        : (await entry.ConfigureAwait(false)).Length == 0 ? "its request is gone from Redis; the lost-request check publishes it again"
                        : null;
                    if (reason is not null)
                    {
                        deferred.Add(run.RunId);
                        logger.BackstopDeferred(run.RunId, reason);
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    deferred.Add(run.RunId);
                }
            }
        }

        foreach (var run in runs.Where(r => deferred.Contains(r.RunId)))
        {
            var version = run.Version;
            await db.Runs
                .Where(r => r.RunId == run.RunId && r.Version == version && r.Status == PluginRunStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.Deadline, now + grace), cancellationToken)
                .ConfigureAwait(false);
        }

        return deferred;
    }

    /// <summary>The pending entries XPENDING found; none when the group does not exist (yet, or after Redis lost it).</summary>
    private static async Task<StreamPendingMessageInfo[]> PendingOrNoneAsync(Task<StreamPendingMessageInfo[]> pending)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
        {
            return [];
        }
    }

    /// <summary>
    /// Publishes again the runs whose request Redis lost. Every cycle, the oldest dispatched and running runs are checked:
    /// a request is lost when its entry is not in the stream, no worker holds the run's lease and no worker finished it (no
    /// <c>done</c> key), at two checks at least <see cref="PluginRunStoreOptions.LostRequestCheckInterval"/> apart (a worker
    /// that still runs it takes its lease again in between). A run claimed for dispatch whose publish was never recorded
    /// (the app stopped in between) is put back to pending once that interval has passed since the claim.
    /// </summary>
    private async Task<int> RepublishLostAsync(RunDbContextAccessor db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var interval = options.Value.LostRequestCheckInterval;
        var dispatchedBefore = now - options.Value.ReaperInterval;
        var candidates = await db.Runs.AsNoTracking()
            .Where(r => (r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running) && r.DispatchedAt != null && r.DispatchedAt < dispatchedBefore)
            .OrderBy(r => r.DispatchedAt)
            .Take(BatchSize)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        var count = 0;
        foreach (var run in candidates.Where(r => r.RequestId is null && r.Status == PluginRunStatus.Dispatched && r.DispatchedAt < now - interval))
        {
            if (await PutBackAsync(db, run, cancellationToken).ConfigureAwait(false))
            {
                logger.UnpublishedRunPutBack(run.RunId);
                count++;
            }
        }

        var published = candidates.Where(r => r.RequestId is not null).ToList();
        if (published.Count == 0 || !redis.IsConnected)
        {
            _missing = [];
            return count;
        }

        var present = await FindPresentAsync(published).ConfigureAwait(false);
        var missing = new Dictionary<Guid, (string EntryId, DateTimeOffset Since)>();
        for (var i = 0; i < published.Count; i++)
        {
            var run = published[i];
            if (present[i])
            {
                continue;
            }

            if (!_missing.TryGetValue(run.RunId, out var seen) || seen.EntryId != run.RequestId)
            {
                missing[run.RunId] = (run.RequestId!, now);
                logger.RequestMissing(run.RunId, run.RequestId!, requests.StreamName);
            }
            else if (now - seen.Since < interval)
            {
                missing[run.RunId] = seen;
            }
            else if (await PutBackAsync(db, run, cancellationToken).ConfigureAwait(false))
            {
                logger.RequestLost(run.RunId, run.RequestId!, run.Attempt, requests.StreamName);
                PluginRunsMetrics.Add(metrics.Republished, run.PluginName);
                count++;
            }
        }

        _missing = missing;
        if (count > 0)
        {
            dispatchSignal.Notify();
        }

        return count;
    }

    /// <summary>Whether each run's request is still in the stream, or a worker holds or finished the run (one pipelined round trip).</summary>
    private async Task<bool[]> FindPresentAsync(List<PluginRun> runs)
    {
        var database = redis.GetDatabase();
        var stream = (RedisKey)requests.StreamName;
        var checks = runs.Select(run => (
                Entry: database.StreamRangeAsync(stream, run.RequestId, run.RequestId, 1),
                Lease: database.KeyExistsAsync(stopSignals.RunKey(run.RunId, "lease")),
                Done: database.KeyExistsAsync(stopSignals.RunKey(run.RunId, "done"))))
            .ToList();
        var present = new bool[runs.Count];
        for (var i = 0; i < checks.Count; i++)
        {
            var (entry, lease, done) = checks[i];
            present[i] = (await entry.ConfigureAwait(false)).Length > 0 || await lease.ConfigureAwait(false) || await done.ConfigureAwait(false);
        }

        return present;
    }

    /// <summary>Puts a dispatched or running run back to pending as the same attempt, so the dispatcher publishes it again.</summary>
    private async Task<bool> PutBackAsync(RunDbContextAccessor db, PluginRun run, CancellationToken cancellationToken)
    {
        var version = run.Version;
        var changed = await db.Runs
            .Where(r => r.RunId == run.RunId && r.Version == version &&
                        (r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running))
            .ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Pending)
                    .SetProperty(r => r.RequestId, (string?)null)
                    .SetProperty(r => r.DispatchedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.StartedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.Deadline, (DateTimeOffset?)null)
                    .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);
        if (changed == 0)
        {
            return false;
        }

        run.Status = PluginRunStatus.Pending;
        run.Version = version + 1;
        hub.PublishStatus(run, timeProvider.GetUtcNow());
        return true;
    }
}
