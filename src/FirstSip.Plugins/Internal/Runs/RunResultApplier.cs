using System.Diagnostics;
using System.Text.Json;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>What applying one result did.</summary>
internal enum ResultOutcome
{
    /// <summary>The run reached a terminal state.</summary>
    Applied,

    /// <summary>A retryable failure: the run is pending again with a later attempt.</summary>
    RetryScheduled,

    /// <summary>The run was already terminal or waiting for a retry: nothing changed.</summary>
    Duplicate,

    /// <summary>No run has this id: nothing changed.</summary>
    Orphan,
}

/// <summary>
/// Applies a worker's result to its run in one transaction: a version-conditional update, plus the host's completion
/// handlers for completed runs. A failed result moves a <c>dispatched</c> or <c>running</c> run. Paid work is never thrown
/// away: a completed result also moves a run the app itself ended <c>timed_out</c> (its backstop, queue timeout or deadline)
/// or one waiting for a retry; only the user's cancel and an earlier terminal result are final.
/// </summary>
internal sealed class RunResultApplier(
    RunDbContextAccessor db,
    IEnumerable<IPluginRunCompletionHandler> completionHandlers,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunResultApplier> logger)
{
    public const string InvalidOutputError = "output was not valid JSON";
    public const string MissingErrorText = "the plugin failed without an error message";
    private const int MaxConflicts = 20;

    private readonly IPluginRunCompletionHandler[] _handlers = [.. completionHandlers];

    /// <summary>Applies one result in a transaction of its own (or the caller's open one), retrying version conflicts.</summary>
    public Task<ResultOutcome> ApplyAsync(PluginResult result, CancellationToken cancellationToken) =>
        ApplyAsync(result, Activity.Current?.Context ?? default, cancellationToken);

    /// <summary>Applies one result, its span continuing <paramref name="parent"/>.</summary>
    public async Task<ResultOutcome> ApplyAsync(PluginResult result, ActivityContext parent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        var context = db.Context;
        for (var conflicts = 0; ; conflicts++)
        {
            var transaction = context.Database.CurrentTransaction is null
                ? await context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false)
                : null;
            Applied applied;
            try
            {
                applied = await ApplyInTransactionAsync(result, parent, read: null, cancellationToken).ConfigureAwait(false);
                if (transaction is not null)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (DbUpdateConcurrencyException) when (conflicts < MaxConflicts && transaction is not null)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                logger.ResultConflict(result.PluginRunId);
                continue;
            }
            finally
            {
                if (transaction is not null)
                {
                    await transaction.DisposeAsync().ConfigureAwait(false);
                }
            }

            Report(applied, committed: transaction is not null);
            return applied.Outcome;
        }
    }

    /// <summary>
    /// Applies one result inside the caller's open transaction, to its run as the caller read it in that transaction
    /// (untracked; null when there is no such run), by its own version-conditional update, completion handlers included.
    /// A version conflict throws <see cref="DbUpdateConcurrencyException"/>.
    /// </summary>
    /// <returns>The run as it is now (a copy, for the caller's later entries), and what tells watchers, metrics and the
    /// log, to call once the transaction has committed.</returns>
    public async Task<(PluginRun? Run, Action Report)> ApplyReadAsync(PluginResult result, ActivityContext parent, PluginRun? run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        var applied = await ApplyInTransactionAsync(result, parent, new Read(run), cancellationToken).ConfigureAwait(false);
        return (applied.Run?.CopyAsStored(1), () => Report(applied, committed: true));
    }

    /// <summary>What applying one result changed, reported once its transaction has committed.</summary>
    private readonly record struct Applied(PluginResult Result, ResultOutcome Outcome, PluginRun? Run, DateTimeOffset At, PluginRunUpdate? Started, string? TimedOutError);

    /// <summary>A run the caller read already (null: there is none).</summary>
    private sealed record Read(PluginRun? Run);

    /// <summary>Moves one run inside the open transaction; a version conflict throws <see cref="DbUpdateConcurrencyException"/>.</summary>
    private async Task<Applied> ApplyInTransactionAsync(PluginResult result, ActivityContext parent, Read? read, CancellationToken cancellationToken)
    {
        using var activity = PluginRunsMetrics.ActivitySource.StartActivity("plugin run result", ActivityKind.Internal, parent);
        activity?.SetTag("firstsip.run.id", result.PluginRunId.ToString("D"));
        try
        {
            var applied = await ApplyInTransactionAsync(result, read, cancellationToken).ConfigureAwait(false);
            if (applied.Run is { } run)
            {
                activity?.SetTag(PluginRunsMetrics.PluginNameTag, run.PluginName);
            }

            activity?.SetTag("firstsip.result.outcome", applied.Outcome switch
            {
                ResultOutcome.Applied => applied.Run!.Status.ToWireString(),
                ResultOutcome.RetryScheduled => "retry",
                ResultOutcome.Duplicate => "duplicate",
                _ => "orphan",
            });
            return applied;
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
    }

    private async Task<Applied> ApplyInTransactionAsync(PluginResult result, Read? read, CancellationToken cancellationToken)
    {
        var context = db.Context;
        context.ChangeTracker.Clear();
        var run = read is null
            ? await db.Runs.FirstOrDefaultAsync(r => r.RunId == result.PluginRunId, cancellationToken).ConfigureAwait(false)
            : read.Run;
        if (run is null)
        {
            return new Applied(result, ResultOutcome.Orphan, null, default, null, null);
        }

        if (!Accepts(run, result))
        {
            context.Entry(run).State = EntityState.Detached;
            return new Applied(result, ResultOutcome.Duplicate, run, default, null, null);
        }

        // A row the caller read is tracked only for completion handlers, which may change it and add their own rows.
        var tracked = read is null || _handlers.Length > 0;
        if (read is not null && tracked)
        {
            context.Attach(run);
        }

        var now = timeProvider.GetUtcNow();
        var expected = run.Version;
        var version = expected;
        var timedOut = run.Status == PluginRunStatus.TimedOut ? run.Error : null;

        // A result can be applied before its run's started event (they travel on two streams), or stand for it (a run that
        // ended moments after it began carries its start in the result instead): the run did run, so it passes through
        // running (its own version) on the way, and watchers see that transition.
        PluginRunUpdate? started = null;
        if (run.Status == PluginRunStatus.Dispatched)
        {
            var startedAt = result.StartedAt ?? (result.DurationMs is { } ms and > 0 ? now - TimeSpan.FromMilliseconds(ms) : now);
            run.StartedAt = startedAt < run.DispatchedAt ? run.DispatchedAt : startedAt > now ? now : startedAt;
            started = RunUpdates.FromRun(run, run.StartedAt ?? now) with { Status = PluginRunStatus.Running, Version = version + 1 };
            version++;
        }

        var outcome = Transition(run, result, now);
        run.Version = version + 1;

        // The conditional update comes first: it takes the row (PostgreSQL) or the write lock (SQLite), so
        // only the one applier that wins it runs the completion handlers, in the same transaction.
        if (!await WriteTransitionAsync(run, expected, cancellationToken).ConfigureAwait(false))
        {
            throw new DbUpdateConcurrencyException($"run {run.RunId} changed while its result was applied");
        }

        if (tracked)
        {
            context.ChangeTracker.DetectChanges();
            context.ChangeTracker.AcceptAllChanges();
            if (run.Status == PluginRunStatus.Completed)
            {
                var completed = new PluginRunCompletedContext(run, context);
                foreach (var handler in _handlers)
                {
                    await handler.OnRunCompletedAsync(completed, cancellationToken).ConfigureAwait(false);
                }
            }

            await context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            context.Entry(run).State = EntityState.Detached;
        }

        return new Applied(result, outcome, run, now, started, timedOut);
    }

    /// <summary>
    /// Tells watchers, metrics and the log what a result did, once its transaction has committed (or, in the caller's
    /// transaction, once applied: then <paramref name="committed"/> is false and waiters read the row themselves).
    /// </summary>
    private void Report(Applied applied, bool committed)
    {
        var run = applied.Run;
        switch (applied.Outcome)
        {
            case ResultOutcome.Orphan:
                PluginRunsMetrics.Add(metrics.OrphanResults, "");
                logger.ResultOrphan(applied.Result.PluginRunId);
                return;
            case ResultOutcome.Duplicate:
                PluginRunsMetrics.Add(metrics.DuplicateResults, run!.PluginName);
                var current = run.Status.ToWireString();
                logger.ResultDuplicate(run.RunId, current);
                return;
        }

        if (applied.TimedOutError is { } timedOut)
        {
            PluginRunsMetrics.Add(metrics.CompletedAfterTimeout, run!.PluginName);
            logger.ResultAppliedAfterTimeout(run.RunId, timedOut);
        }

        if (applied.Started is { } started)
        {
            if (run!.DispatchedAt is { } dispatchedAt && run.StartedAt is { } startedAt)
            {
                PluginRunsMetrics.Record(metrics.QueueWait, run.PluginName, startedAt - dispatchedAt);
            }

            hub.Publish(started);
        }

        Report(run!, applied.Outcome, applied.At, committed);
    }

    /// <summary>Whether a result may move its run: see the class remarks.</summary>
    internal static bool Accepts(PluginRun run, PluginResult result)
    {
        if (result.Status == PluginResultStatus.Completed)
        {
            return run.Status is PluginRunStatus.Pending or PluginRunStatus.Dispatched or PluginRunStatus.Running or PluginRunStatus.TimedOut;
        }

        var stale = result.Attempt is { } attempt && attempt < run.Attempt;
        return run.Status is PluginRunStatus.Dispatched or PluginRunStatus.Running && !stale;
    }

    private Task<bool> WriteTransitionAsync(PluginRun run, long expectedVersion, CancellationToken cancellationToken) =>
        RunStatements.Of(db.Context).TransitionAsync(db.Context, run, expectedVersion, cancellationToken);

    private ResultOutcome Transition(PluginRun run, PluginResult result, DateTimeOffset now)
    {
        if (result.LastStep is { Length: > 0 } lastStep)
        {
            run.LastStep = lastStep.Length > 500 ? lastStep[..500] : lastStep;
        }

        if (result.Status == PluginResultStatus.Completed)
        {
            if (IsJson(result.Output))
            {
                run.Status = PluginRunStatus.Completed;
                run.Output = result.Output;
                run.Error = null;
            }
            else
            {
                run.Status = PluginRunStatus.Failed;
                run.Error = InvalidOutputError;
            }
        }
        else if (result.Retryable && run.Attempt < run.MaxAttempts)
        {
            var delay = RetryDelay(options.Value, run.Attempt);
            if (result.RetryDelay is { } asked && asked > delay)
            {
                delay = asked;
            }

            run.Status = PluginRunStatus.Pending;
            run.Error = result.Error;
            run.Attempt++;
            run.NextAttemptAt = now + delay;
            run.QueueDeadline = run.QueueTimeoutSeconds is { } queueTimeout ? now + delay + TimeSpan.FromSeconds(queueTimeout) : null;
            run.DispatchedAt = null;
            run.StartedAt = null;
            run.Deadline = null;
            run.RequestId = null;
            run.DispatchFailures = 0;
            return ResultOutcome.RetryScheduled;
        }
        else
        {
            run.Status = result.FailureKind is PluginFailureKind.TimedOut or PluginFailureKind.NotStarted
                ? PluginRunStatus.TimedOut
                : PluginRunStatus.Failed;
            run.Error = string.IsNullOrEmpty(result.Error) ? MissingErrorText : result.Error;
        }

        run.CompletedAt = now;
        run.NextAttemptAt = null;
        return ResultOutcome.Applied;
    }

    private void Report(PluginRun run, ResultOutcome outcome, DateTimeOffset now, bool committed)
    {
        if (outcome == ResultOutcome.RetryScheduled)
        {
            PluginRunsMetrics.Add(metrics.Retried, run.PluginName);
            logger.RetryScheduled(run.RunId, run.Attempt, run.NextAttemptAt!.Value - now);
        }
        else
        {
            metrics.Ended(run, run.Status, now);
            var status = run.Status.ToWireString();
            logger.ResultApplied(run.RunId, status);
        }

        if (committed)
        {
            hub.PublishCommitted(run, now);
        }
        else
        {
            hub.PublishStatus(run, now);
        }
    }

    /// <summary>The delay before the attempt after <paramref name="failedAttempt"/>: base × 2^(failedAttempt − 1), capped.</summary>
    internal static TimeSpan RetryDelay(PluginRunStoreOptions options, int failedAttempt)
    {
        var exponent = Math.Clamp(failedAttempt - 1, 0, 30);
        var ticks = options.RetryBaseDelay.Ticks * Math.Pow(2, exponent);
        return ticks >= options.RetryMaxDelay.Ticks ? options.RetryMaxDelay : TimeSpan.FromTicks((long)ticks);
    }

    internal static bool IsJson(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
