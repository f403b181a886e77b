using System.Globalization;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>
/// Writes the new runs of concurrent <see cref="IPluginRunner.StartAsync"/> calls on the package's own context together
/// (see <see cref="EntryBatcher{T}"/>): the inserts that gather while one transaction is written go in the next, so under
/// load a start costs a share of a commit (and, on SQLite, of the write gate and the WAL sync) instead of one of its own.
/// At idle a run is written alone, at once. A batch that fails is written again run by run, so a failing insert fails
/// its own start only.
/// </summary>
/// <remarks>
/// Only starts with nothing else to save go through here: no idempotency key (its lookup and insert hold a lock in one
/// transaction), no open transaction on the caller's context, no pending changes on it. A start that has been handed
/// over is written or fails: its caller's token is checked before, not during, so a cancelled caller never leaves a run
/// behind that it was told was not started.
/// </remarks>
internal sealed class RunStartBatcher
{
    private readonly IServiceScopeFactory _scopeFactory;
    private readonly EntryBatcher<Entry> _batcher;

    public RunStartBatcher(IServiceScopeFactory scopeFactory, ILogger<RunStartBatcher> logger)
    {
        _scopeFactory = scopeFactory;
        _batcher = new EntryBatcher<Entry>(
            (entries, _) => InsertAsync([.. entries.Select(static e => e.Run)]),
            (entry, _) => InsertAsync([entry.Run]),
            (ex, count) => logger.BatchFailed(ex, "new runs", count));
    }

    /// <summary>Writes <paramref name="run"/> (detached afterwards) with the runs other callers start meanwhile.</summary>
    public Task InsertAsync(PluginRun run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _batcher.ApplyAsync(new Entry(run), CancellationToken.None);
    }

    private async Task InsertAsync(IReadOnlyList<PluginRun> runs)
    {
        var scope = _scopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var context = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
            await RunStatements.Of(context).InsertAsync(context, runs, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private sealed record Entry(PluginRun Run) : IBatchEntry
    {
        public string Id => Run.RunId.ToString("D", CultureInfo.InvariantCulture);
    }
}
