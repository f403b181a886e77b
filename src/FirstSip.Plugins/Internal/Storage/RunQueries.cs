using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>
/// The reads every run goes through (its row by id for a waiter, a batch's rows, the dispatcher's due runs), compiled
/// once per model with <see cref="EF.CompileAsyncQuery{TContext, TParam1, TResult}(System.Linq.Expressions.Expression{Func{TContext, TParam1, CancellationToken, TResult}})"/>:
/// no expression tree to build, parameterise and look up on each call. A compiled query keeps to the model it first ran
/// on, so each model (the standalone contexts', a host's own context's) has its own.
/// </summary>
internal sealed class RunQueries
{
    private static readonly ConditionalWeakTable<IModel, RunQueries> ByModel = [];

    private readonly Func<DbContext, Guid, CancellationToken, Task<PluginRun?>> _byId = EF.CompileAsyncQuery(
        (DbContext context, Guid runId, CancellationToken _) => context.Set<PluginRun>().AsNoTracking().FirstOrDefault(r => r.RunId == runId));

    private readonly Func<DbContext, Guid[], IAsyncEnumerable<PluginRun>> _byIds = EF.CompileAsyncQuery(
        (DbContext context, Guid[] runIds) => context.Set<PluginRun>().AsNoTracking().Where(r => runIds.Contains(r.RunId)));

    private readonly Func<DbContext, DateTimeOffset, int, IAsyncEnumerable<PluginRun>> _due = EF.CompileAsyncQuery(
        (DbContext context, DateTimeOffset now, int take) => context.Set<PluginRun>().AsNoTracking()
            .Where(r => r.Status == PluginRunStatus.Pending && (r.NextAttemptAt == null || r.NextAttemptAt <= now))
            .OrderBy(r => r.CreatedAt)
            .Take(take));

    /// <summary>The queries of <paramref name="context"/>'s model.</summary>
    public static RunQueries Of(DbContext context) => ByModel.GetValue(context.Model, static _ => new RunQueries());

    /// <summary>The run with this id (untracked), or null.</summary>
    public Task<PluginRun?> ByIdAsync(DbContext context, Guid runId, CancellationToken cancellationToken) => _byId(context, runId, cancellationToken);

    /// <summary>The runs among these ids (untracked), by id.</summary>
    public async Task<Dictionary<Guid, PluginRun>> ByIdsAsync(DbContext context, Guid[] runIds, CancellationToken cancellationToken)
    {
        var runs = new Dictionary<Guid, PluginRun>(runIds.Length);
        await foreach (var run in _byIds(context, runIds).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            runs[run.RunId] = run;
        }

        return runs;
    }

    /// <summary>Up to <paramref name="take"/> pending runs due at <paramref name="now"/> (untracked), oldest first.</summary>
    public async Task<List<PluginRun>> DueAsync(DbContext context, DateTimeOffset now, int take, CancellationToken cancellationToken)
    {
        var runs = new List<PluginRun>();
        await foreach (var run in _due(context, now, take).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            runs.Add(run);
        }

        return runs;
    }
}
