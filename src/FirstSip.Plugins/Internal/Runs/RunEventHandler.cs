using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:events</c>: the first event of an attempt moves the run from
/// <c>dispatched</c> to <c>running</c>; steps are stored as the run's last step; every event feeds the watchers.
/// </summary>
internal sealed class RunEventHandler(
    RunDbContextAccessor db,
    TimeProvider timeProvider,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunEventHandler> logger) : IStreamMessageHandler<PluginEvent>
{
    public async Task HandleAsync(StreamMessage<PluginEvent> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var evt = message.Message;
        var now = timeProvider.GetUtcNow();
        var step = evt.Kind == PluginEventKind.Step ? evt.Step : null;

        var dispatched = db.Runs.Where(r => r.RunId == evt.PluginRunId && r.Status == PluginRunStatus.Dispatched);
        if (evt.Attempt is { } attempt)
        {
            dispatched = dispatched.Where(r => r.Attempt == attempt);
        }

        var started = await dispatched.ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Running)
                    .SetProperty(r => r.StartedAt, now)
                    .SetProperty(r => r.LastStep, r => step ?? r.LastStep)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);

        if (started == 0 && step is not null)
        {
            var running = db.Runs.Where(r => r.RunId == evt.PluginRunId && r.Status == PluginRunStatus.Running);
            if (evt.Attempt is { } runningAttempt)
            {
                running = running.Where(r => r.Attempt == runningAttempt);
            }

            await running.ExecuteUpdateAsync(s => s.SetProperty(r => r.LastStep, step), cancellationToken).ConfigureAwait(false);
        }

        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.RunId == evt.PluginRunId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return;
        }

        if (started == 1 && run.DispatchedAt is { } dispatchedAt)
        {
            PluginRunsMetrics.Record(metrics.QueueWait, run.PluginName, now - dispatchedAt);
        }

        if (started == 1 || step is not null)
        {
            hub.PublishStatus(run, now);
        }

        hub.Publish(new PluginRunUpdate
        {
            RunId = run.RunId,
            Kind = PluginRunUpdateKind.Progress,
            Status = run.Status,
            Attempt = run.Attempt,
            LastStep = run.LastStep,
            ProgressKind = evt.Kind switch
            {
                PluginEventKind.Started => "started",
                PluginEventKind.Step => "step",
                _ => "heartbeat",
            },
            Step = evt.Step,
            Message = evt.Message,
            At = evt.At == default ? now : evt.At,
        });
    }

    /// <summary>A poison progress event is logged; it carries no outcome, so the run goes on (its result or deadline ends it).</summary>
    public Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        logger.RunDeadLettered(entry.StreamName, entry.Key ?? "", entry.Reason);
        return Task.CompletedTask;
    }
}
