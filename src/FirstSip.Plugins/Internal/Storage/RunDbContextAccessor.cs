using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>The scope's <see cref="DbContext"/> that holds the runs: the host's own context, or the standalone one.</summary>
internal sealed class RunDbContextAccessor(DbContext context)
{
    public DbContext Context { get; } = context;

    public DbSet<PluginRun> Runs => Context.Set<PluginRun>();

    public DbSet<PluginSchedule> Schedules => Context.Set<PluginSchedule>();

    /// <summary>Whether the context's model has schedules (the host's context calls <c>AddPluginSchedules</c>).</summary>
    public bool HasSchedules => Context.Model.FindEntityType(typeof(PluginSchedule)) is not null;
}
