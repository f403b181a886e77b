using FirstSip.Streams;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:events</c>: hands each event to the <see cref="WorkerReportBatcher"/> and returns once
/// it is committed. A <c>started</c> event moves the run from <c>dispatched</c> to <c>running</c> and starts the app's
/// execution backstop; steps are stored as the run's last step; every event feeds the watchers.
/// </summary>
internal sealed class RunEventHandler(
    WorkerReportBatcher batcher,
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
