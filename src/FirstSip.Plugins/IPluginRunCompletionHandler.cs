using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins;

/// <summary>
/// The host's hook for runs that end <see cref="PluginRunStatus.Completed"/>, for example to create a
/// briefing from the output. It runs inside the same <see cref="DbContext"/> and transaction as the
/// status change: what it adds to <see cref="PluginRunCompletedContext.DbContext"/> commits with the
/// run, and if it throws, neither commits (the result is applied again later).
/// </summary>
/// <remarks>Register with <c>AddPluginRunStore(...).AddCompletionHandler&lt;T&gt;()</c>; resolved per result from a scope.</remarks>
public interface IPluginRunCompletionHandler
{
    /// <summary>Called after the run was marked completed and before the changes are saved.</summary>
    /// <param name="context">The run and the database context.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the handler has added its changes.</returns>
    Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IPluginRunCompletionHandler"/> receives.</summary>
public sealed class PluginRunCompletedContext
{
    /// <summary>Initializes a new instance of the <see cref="PluginRunCompletedContext"/> class.</summary>
    /// <param name="run">The completed run (tracked by <paramref name="dbContext"/>).</param>
    /// <param name="dbContext">The context whose transaction applies the result.</param>
    public PluginRunCompletedContext(PluginRun run, DbContext dbContext)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(dbContext);
        Run = run;
        DbContext = dbContext;
    }

    /// <summary>Gets the completed run; <see cref="PluginRun.Output"/> is valid JSON text.</summary>
    public PluginRun Run { get; }

    /// <summary>Gets the database context: the host's own one when registered with <c>AddPluginRunStore&lt;TContext&gt;</c>. Add entities to it; the package saves them.</summary>
    public DbContext DbContext { get; }
}
