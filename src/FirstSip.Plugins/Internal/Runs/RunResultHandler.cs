using System.Diagnostics;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// The app group's handler of <c>plugin:results</c>: hands each result to the <see cref="RunResultBatcher"/> and returns
/// once it is committed (the reader then acknowledges it). The reader never dead-letters a decodable result.
/// </summary>
internal sealed class RunResultHandler(
    RunResultBatcher batcher,
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

/// <summary>
/// Applies the results the reader's handlers hand over concurrently in batches, one transaction each (see
/// <see cref="EntryBatcher{T}"/>), a fresh scope for every try: transient database failures are retried in process while
/// the reader keeps renewing the entries.
/// </summary>
internal sealed class RunResultBatcher
{
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly TransientDatabaseRetry _retry;
    private readonly EntryBatcher<Entry> _batcher;

    public RunResultBatcher(IServiceScopeFactory scopeFactory, TransientDatabaseRetry retry, ILogger<RunResultBatcher> logger)
    {
        _scopeFactory = scopeFactory;
        _retry = retry;
        _batcher = new EntryBatcher<Entry>(ApplyBatchAsync, ApplyOneAsync, (ex, count) => logger.BatchFailed(ex, "results", count));
    }

    public Task ApplyAsync(StreamMessage<PluginResult> message, CancellationToken cancellationToken) =>
        _batcher.ApplyAsync(new Entry(message.Message, Activity.Current?.Context ?? default, message.StreamName, message.Id), cancellationToken);

    private Task ApplyBatchAsync(IReadOnlyList<Entry> entries, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(entries[0].Stream, BatchEntry.Name(entries), async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                await scope.ServiceProvider.GetRequiredService<RunResultApplier>()
                    .ApplyBatchAsync([.. entries.Select(static e => (e.Result, e.Parent))], token)
                    .ConfigureAwait(false);
            }
        }, cancellationToken);

    private Task ApplyOneAsync(Entry entry, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(entry.Stream, entry.Id, async token =>
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                await scope.ServiceProvider.GetRequiredService<RunResultApplier>().ApplyAsync(entry.Result, entry.Parent, token).ConfigureAwait(false);
            }
        }, cancellationToken);

    private sealed record Entry(PluginResult Result, ActivityContext Parent, string Stream, string Id) : IBatchEntry;
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
