using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>Conditional single-statement transitions shared by the consumers, the dispatcher and the reaper.</summary>
internal static class RunTransitions
{
    /// <summary>Fails a non-terminal run (optionally only at a given version), and owes the workers its stop signal.</summary>
    /// <returns>Whether this call changed the run.</returns>
    public static async Task<bool> FailAsync(RunDbContextAccessor db, Guid runId, string error, DateTimeOffset now, long? version, CancellationToken cancellationToken)
    {
        var runs = db.Runs.Where(r => r.RunId == runId &&
                                      (r.Status == PluginRunStatus.Pending || r.Status == PluginRunStatus.Dispatched || r.Status == PluginRunStatus.Running));
        if (version is { } v)
        {
            runs = runs.Where(r => r.Version == v);
        }

        var changed = await runs.ExecuteUpdateAsync(
                s => s.SetProperty(r => r.Status, PluginRunStatus.Failed)
                    .SetProperty(r => r.Error, error)
                    .SetProperty(r => r.CompletedAt, now)
                    .SetProperty(r => r.NextAttemptAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.StopSignalPending, true)
                    .SetProperty(r => r.Version, r => r.Version + 1),
                cancellationToken)
            .ConfigureAwait(false);
        return changed == 1;
    }
}
