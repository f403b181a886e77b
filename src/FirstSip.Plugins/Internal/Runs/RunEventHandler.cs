using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:events</c>, applied in batches by <see cref="RunEventBatcher"/>: a <c>started</c> event moves the run from <c>dispatched</c> to
/// <c>running</c> and starts the app's execution backstop (start + timeout + grace; a worker that takes over a dead
/// worker's run starts it again); steps are stored as the run's last step; every event feeds the watchers. Transient
/// database failures are retried in process, each try in a scope of its own.
/// </summary>
internal sealed class RunEventHandler(
    RunEventBatcher batcher,
    ILogger<RunEventHandler> logger) : IStreamMessageHandler<PluginEvent>
{
    public Task HandleAsync(StreamMessage<PluginEvent> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return batcher.ApplyAsync(message, cancellationToken);
    }

    /// <summary>A poison progress event is logged; it carries no outcome, so the run goes on (its result or deadline ends it).</summary>
    public Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        logger.RunDeadLettered(entry.StreamName, entry.Key ?? "", entry.Reason);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Applies the progress events the reader's handlers hand over concurrently in batches, one transaction each (see
/// <see cref="EntryBatcher{T}"/>), a fresh scope for every try. Watchers hear of a batch's events once it is committed.
/// </summary>
internal sealed class RunEventBatcher
{
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly TransientDatabaseRetry _retry;
    private readonly TimeProvider _timeProvider;
    private readonly IOptions<PluginRunStoreOptions> _options;
    private readonly RunUpdateHub _hub;
    private readonly PluginRunsMetrics _metrics;
    private readonly EntryBatcher<Entry> _batcher;

    public RunEventBatcher(
        IServiceScopeFactory scopeFactory,
        TransientDatabaseRetry retry,
        TimeProvider timeProvider,
        IOptions<PluginRunStoreOptions> options,
        RunUpdateHub hub,
        PluginRunsMetrics metrics,
        ILogger<RunEventBatcher> logger)
    {
        _scopeFactory = scopeFactory;
        _retry = retry;
        _timeProvider = timeProvider;
        _options = options;
        _hub = hub;
        _metrics = metrics;
        _batcher = new EntryBatcher<Entry>(ApplyBatchAsync, ApplyOneAsync, (ex, count) => logger.BatchFailed(ex, "progress events", count));
    }

    public Task ApplyAsync(StreamMessage<PluginEvent> message, CancellationToken cancellationToken) =>
        _batcher.ApplyAsync(new Entry(message.Message, message.StreamName, message.Id), cancellationToken);

    private Task ApplyBatchAsync(IReadOnlyList<Entry> entries, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(entries[0].Stream, BatchEntry.Name(entries), async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
                var applied = new List<Action>(entries.Count);
                var transaction = await db.Context.Database.BeginTransactionAsync(token).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    foreach (var entry in entries)
                    {
                        applied.Add(await ApplyAsync(db, entry.Event, entry.Id, token).ConfigureAwait(false));
                    }

                    await transaction.CommitAsync(token).ConfigureAwait(false);
                }

                foreach (var report in applied)
                {
                    report();
                }
            }
        }, cancellationToken);

    private Task ApplyOneAsync(Entry entry, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(entry.Stream, entry.Id, async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var report = await ApplyAsync(scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>(), entry.Event, entry.Id, token).ConfigureAwait(false);
                report();
            }
        }, cancellationToken);

    /// <summary>Applies one event to its run; returns what tells watchers and metrics, to call once the change is committed.</summary>
    private async Task<Action> ApplyAsync(RunDbContextAccessor db, PluginEvent evt, string eventId, CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetUtcNow();
        var step = evt.Kind == PluginEventKind.Step ? evt.Step : null;
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.RunId == evt.PluginRunId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return static () => { };
        }

        var deadline = now + _options.Value.DeadlineGracePeriod + TimeSpan.FromSeconds(run.TimeoutSeconds);
        var startable = evt.Kind == PluginEventKind.Started
            ? db.Runs.Where(r => r.RunId == evt.PluginRunId && (r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running))
            : db.Runs.Where(r => r.RunId == evt.PluginRunId && r.Status == PluginRunStatus.Dispatched);
        if (evt.Attempt is { } attempt)
        {
            startable = startable.Where(r => r.Attempt == attempt);
        }

        // The backstop counts from this start: a run's time waiting in the queue is never charged to its execution timeout.
        var started = await startable.ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Running)
                    .SetProperty(r => r.StartedAt, now)
                    .SetProperty(r => r.Deadline, deadline)
                    .SetProperty(r => r.LastStep, r => step ?? r.LastStep)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);

        var queueWait = started == 1 && run.Status == PluginRunStatus.Dispatched && run.DispatchedAt is { } dispatchedAt ? now - dispatchedAt : (TimeSpan?)null;
        if (started == 1)
        {
            run.Status = PluginRunStatus.Running;
            run.StartedAt = now;
            run.Deadline = deadline;
            run.LastStep = step ?? run.LastStep;
            run.Version++;
        }
        else if (step is not null)
        {
            // Progress and results travel on two streams: a step handled after its run's result still records where the run got to.
            var running = db.Runs.Where(r => r.RunId == evt.PluginRunId && r.Status != PluginRunStatus.Pending && r.Status != PluginRunStatus.Dispatched);
            if (evt.Attempt is { } runningAttempt)
            {
                running = running.Where(r => r.Attempt == runningAttempt);
            }

            if (await running.ExecuteUpdateAsync(s => s.SetProperty(r => r.LastStep, step), cancellationToken).ConfigureAwait(false) == 1)
            {
                run.LastStep = step;
            }
        }

        var statusChanged = started == 1 || step is not null;
        return () =>
        {
            if (queueWait is { } wait)
            {
                PluginRunsMetrics.Record(_metrics.QueueWait, run.PluginName, wait);
            }

            if (statusChanged)
            {
                _hub.PublishStatus(run, now);
            }

            _hub.Publish(RunUpdates.FromEvent(evt, eventId, run, now));
        };
    }

    private sealed record Entry(PluginEvent Event, string Stream, string Id) : IBatchEntry;
}
