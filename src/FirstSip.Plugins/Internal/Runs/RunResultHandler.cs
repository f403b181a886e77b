using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:results</c>: hands each result to the <see cref="WorkerReportBatcher"/> and returns
/// once it is committed (the reader then acknowledges it). The reader never dead-letters a decodable result.
/// </summary>
internal sealed class RunResultHandler(
    WorkerReportBatcher batcher,
    RunDbContextAccessor db,
    TimeProvider timeProvider,
    RunUpdateHub hub,
    PluginRunsMetrics metrics,
    ILogger<RunResultHandler> logger) : IStreamMessageHandler<PluginResult>
{
    public Task HandleAsync(StreamMessage<PluginResult> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return batcher.ApplyAsync(message, cancellationToken);
    }

    /// <summary>A poison result whose run id is readable fails the run with the reason, before the entry is dead-lettered.</summary>
    public Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken) =>
        DeadLetters.FailRunAsync(entry, db, timeProvider, hub, metrics, logger, cancellationToken);
}

/// <summary>Fails the run of a dead-lettered entry.</summary>
internal static class DeadLetters
{
    public static async Task FailRunAsync(
        DeadLetteredEntry entry,
        RunDbContextAccessor db,
        TimeProvider timeProvider,
        RunUpdateHub hub,
        PluginRunsMetrics metrics,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        logger.RunDeadLettered(entry.StreamName, entry.Key ?? "", entry.Reason);
        if (!Guid.TryParse(entry.Key, out var runId))
        {
            return;
        }

        var now = timeProvider.GetUtcNow();
        var error = $"{entry.StreamName} entry dead-lettered: {entry.Reason}";
        if (await RunTransitions.FailAsync(db, runId, error, now, version: null, cancellationToken).ConfigureAwait(false))
        {
            var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.RunId == runId, cancellationToken).ConfigureAwait(false);
            if (run is not null)
            {
                metrics.Ended(run, PluginRunStatus.Failed, now);
                hub.PublishStatus(run, now);
            }
        }
    }
}
