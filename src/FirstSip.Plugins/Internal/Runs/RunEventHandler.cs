using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:events</c>: a <c>started</c> event moves the run from <c>dispatched</c> to
/// <c>running</c> and starts the app's execution backstop (start + timeout + grace; a worker that takes over a dead
/// worker's run starts it again); steps are stored as the run's last step; every event feeds the watchers. Transient
/// database failures are retried in process, each try in a scope of its own.
/// </summary>
internal sealed class RunEventHandler(
    IServiceScopeFactory scopeFactory,
    TransientDatabaseRetry retry,
    TimeProvider timeProvider,
    IOptions<PluginRunStoreOptions> options,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunEventHandler> logger) : IStreamMessageHandler<PluginEvent>
{
    public Task HandleAsync(StreamMessage<PluginEvent> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return retry.ExecuteAsync(message.StreamName, message.Id, async token =>
        {
            var scope = scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                await ApplyAsync(scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>(), message.Message, message.Id, token).ConfigureAwait(false);
            }
        }, cancellationToken);
    }

    private async Task ApplyAsync(RunDbContextAccessor db, PluginEvent evt, string eventId, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var step = evt.Kind == PluginEventKind.Step ? evt.Step : null;
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.RunId == evt.PluginRunId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return;
        }

        var deadline = now + options.Value.DeadlineGracePeriod + TimeSpan.FromSeconds(run.TimeoutSeconds);
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

        if (started == 1)
        {
            if (run.Status == PluginRunStatus.Dispatched && run.DispatchedAt is { } dispatchedAt)
            {
                PluginRunsMetrics.Record(metrics.QueueWait, run.PluginName, now - dispatchedAt);
            }

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

        if (started == 1 || step is not null)
        {
            hub.PublishStatus(run, now);
        }

        hub.Publish(RunUpdates.FromEvent(evt, eventId, run, now));
    }

    /// <summary>A poison progress event is logged; it carries no outcome, so the run goes on (its result or deadline ends it).</summary>
    public Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        logger.RunDeadLettered(entry.StreamName, entry.Key ?? "", entry.Reason);
        return Task.CompletedTask;
    }
}
