using System.Diagnostics;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Applies what the workers report, the progress events and the results the two readers' handlers hand over
/// concurrently, in shared batches (see <see cref="EntryBatcher{T}"/>): one transaction per batch, which reads the
/// batch's runs in one query and then moves each run by its own conditional update, the events first (in the order they
/// came), then the results. A run's <c>started</c> event and its result, which arrive together for a short run, so cost
/// one commit between them instead of one each, and one update: the result's transition moves a run that is still
/// <c>dispatched</c> through <c>running</c> itself, so its started event, in the same batch, is not written separately.
/// Every try has a fresh scope, and transient database failures are retried in process while the readers keep renewing
/// the entries. Watchers, metrics and logs hear of a batch once it is committed.
/// </summary>
internal sealed class WorkerReportBatcher
{
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly TransientDatabaseRetry _retry;
    private readonly TimeProvider _timeProvider;
    private readonly IOptions<PluginRunStoreOptions> _options;
    private readonly RunUpdateHub _hub;
    private readonly PluginRunsMetrics _metrics;
    private readonly EntryBatcher<WorkerReport> _batcher;

    public WorkerReportBatcher(
        IServiceScopeFactory scopeFactory,
        TransientDatabaseRetry retry,
        TimeProvider timeProvider,
        IOptions<PluginRunStoreOptions> options,
        RunUpdateHub hub,
        PluginRunsMetrics metrics,
        ILogger<WorkerReportBatcher> logger)
    {
        _scopeFactory = scopeFactory;
        _retry = retry;
        _timeProvider = timeProvider;
        _options = options;
        _hub = hub;
        _metrics = metrics;
        _batcher = new EntryBatcher<WorkerReport>(ApplyBatchAsync, ApplyOneAsync, (ex, count) => logger.BatchFailed(ex, "results and progress events", count));
    }

    /// <summary>Completes once the progress event is applied and committed.</summary>
    public Task ApplyAsync(StreamMessage<PluginEvent> message, CancellationToken cancellationToken) =>
        _batcher.ApplyAsync(WorkerReport.Of(message), cancellationToken);

    /// <summary>Completes once the result is applied and committed; its span continues the current activity.</summary>
    public Task ApplyAsync(StreamMessage<PluginResult> message, CancellationToken cancellationToken) =>
        _batcher.ApplyAsync(WorkerReport.Of(message, Activity.Current?.Context ?? default), cancellationToken);

    private Task ApplyBatchAsync(IReadOnlyList<WorkerReport> reports, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(reports[0].Stream, BatchEntry.Name(reports), async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                await ApplyTogetherAsync(scope.ServiceProvider, reports, token).ConfigureAwait(false);
            }
        }, cancellationToken);

    /// <summary>
    /// Applies <paramref name="reports"/> in one transaction on <paramref name="services"/>' context. Any failure (a version
    /// conflict, a completion handler's exception) rolls the whole batch back and is thrown.
    /// </summary>
    internal async Task ApplyTogetherAsync(IServiceProvider services, IReadOnlyList<WorkerReport> reports, CancellationToken cancellationToken)
    {
        var db = services.GetRequiredService<RunDbContextAccessor>();
        var applier = services.GetRequiredService<RunResultApplier>();
        var committed = new List<Action>(reports.Count);
        var transaction = await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            // Read in the transaction: on SQLite it holds the write lock, so nothing moves these rows until the commit.
            var runs = await RunQueries.Of(db.Context)
                .ByIdsAsync(db.Context, [.. reports.Select(static r => r.RunId).Distinct()], cancellationToken).ConfigureAwait(false);
            var ending = reports.Where(static r => r.Result?.Attempt is not null).Select(static r => (r.RunId, r.Result!.Attempt!.Value)).ToHashSet();
            foreach (var report in reports)
            {
                if (report.Event is { } evt)
                {
                    var run = runs.GetValueOrDefault(evt.PluginRunId);
                    committed.Add(IsStartOfEnding(evt, run, ending)
                        ? StartedWithItsResult(evt, report.Id, run!)
                        : await ApplyEventAsync(db, evt, report.Id, run, cancellationToken).ConfigureAwait(false));
                }
            }

            foreach (var report in reports)
            {
                if (report.Result is { } result)
                {
                    var (run, reportApplied) = await applier.ApplyReadAsync(result, report.Parent, runs.GetValueOrDefault(result.PluginRunId), cancellationToken)
                        .ConfigureAwait(false);
                    if (run is not null)
                    {
                        runs[run.RunId] = run;
                    }

                    committed.Add(reportApplied);
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var report in committed)
        {
            report();
        }
    }

    /// <summary>
    /// Whether <paramref name="evt"/> starts a dispatched run whose result for the same attempt is in the batch (a run that
    /// ended moments after it started): the result's transition then moves the run through <c>running</c> itself.
    /// </summary>
    private static bool IsStartOfEnding(PluginEvent evt, PluginRun? run, HashSet<(Guid, int)> ending) =>
        evt.Kind == PluginEventKind.Started && evt.Attempt is { } attempt && run is { Status: PluginRunStatus.Dispatched } && run.Attempt == attempt
        && ending.Contains((evt.PluginRunId, attempt));

    /// <summary>
    /// A started event whose run the batch's result moves through <c>running</c>: nothing to write; watchers get the
    /// event as of the start the result records (its version). The result's transition measures the queue wait.
    /// </summary>
    private Action StartedWithItsResult(PluginEvent evt, string eventId, PluginRun run)
    {
        var update = RunUpdates.FromEvent(evt, eventId, run, _timeProvider.GetUtcNow()) with { Status = PluginRunStatus.Running, Version = run.Version + 1 };
        return () => _hub.Publish(update);
    }

    private Task ApplyOneAsync(WorkerReport report, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(report.Stream, report.Id, async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                if (report.Result is { } result)
                {
                    await scope.ServiceProvider.GetRequiredService<RunResultApplier>().ApplyAsync(result, report.Parent, token).ConfigureAwait(false);
                    return;
                }

                var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
                var evt = report.Event!;
                var run = await RunQueries.Of(db.Context).ByIdAsync(db.Context, evt.PluginRunId, token).ConfigureAwait(false);
                var committed = await ApplyEventAsync(db, evt, report.Id, run, token).ConfigureAwait(false);
                committed();
            }
        }, cancellationToken);

    /// <summary>
    /// Applies one progress event to its run (<paramref name="run"/> as read, kept up to date with what this changes): a
    /// <c>started</c> event moves the run from <c>dispatched</c> to <c>running</c> and starts the app's execution backstop
    /// (start + timeout + grace; a worker that takes over a dead worker's run starts it again); a step is stored as the
    /// run's last step. Returns what tells watchers and metrics, to call once the change is committed.
    /// </summary>
    private async Task<Action> ApplyEventAsync(RunDbContextAccessor db, PluginEvent evt, string eventId, PluginRun? run, CancellationToken cancellationToken)
    {
        if (run is null)
        {
            return static () => { };
        }

        var now = _timeProvider.GetUtcNow();
        var step = evt.Kind == PluginEventKind.Step ? evt.Step : null;
        var deadline = now + _options.Value.DeadlineGracePeriod + TimeSpan.FromSeconds(run.TimeoutSeconds);
        // The backstop counts from this start: a run's time waiting in the queue is never charged to its execution timeout.
        var started = await RunStatements.Of(db.Context)
            .StartAsync(db.Context, evt.PluginRunId, evt.Attempt, restart: evt.Kind == PluginEventKind.Started, now, deadline, step, cancellationToken)
            .ConfigureAwait(false);

        var queueWait = started && run.Status == PluginRunStatus.Dispatched && run.DispatchedAt is { } dispatchedAt ? now - dispatchedAt : (TimeSpan?)null;
        if (started)
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

        // Watchers get this moment's row: later entries of the batch go on changing the shared one.
        var status = started || step is not null ? RunUpdates.FromRun(run, now) : null;
        var update = RunUpdates.FromEvent(evt, eventId, run, now);
        var plugin = run.PluginName;
        return () =>
        {
            if (queueWait is { } wait)
            {
                PluginRunsMetrics.Record(_metrics.QueueWait, plugin, wait);
            }

            if (status is not null)
            {
                _hub.Publish(status);
            }

            _hub.Publish(update);
        };
    }
}

/// <summary>A progress event or a result, as its reader handed it over.</summary>
internal sealed record WorkerReport : IBatchEntry
{
    private WorkerReport(Guid runId, string stream, string id)
    {
        RunId = runId;
        Stream = stream;
        Id = id;
    }

    /// <summary>The run the report is about.</summary>
    public Guid RunId { get; }

    /// <summary>The stream it was read from.</summary>
    public string Stream { get; }

    /// <summary>Its stream entry id.</summary>
    public string Id { get; }

    /// <summary>The progress event, or null for a result.</summary>
    public PluginEvent? Event { get; private init; }

    /// <summary>The result, or null for a progress event.</summary>
    public PluginResult? Result { get; private init; }

    /// <summary>The trace context a result's span continues (the reader's span of its entry).</summary>
    public ActivityContext Parent { get; private init; }

    public static WorkerReport Of(StreamMessage<PluginEvent> message) =>
        new(message.Message.PluginRunId, message.StreamName, message.Id) { Event = message.Message };

    public static WorkerReport Of(StreamMessage<PluginResult> message, ActivityContext parent) =>
        new(message.Message.PluginRunId, message.StreamName, message.Id) { Result = message.Message, Parent = parent };
}
