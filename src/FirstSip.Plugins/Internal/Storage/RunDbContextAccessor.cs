using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>The scope's <see cref="DbContext"/> that holds the runs: the host's own context, or the standalone one.</summary>
internal sealed class RunDbContextAccessor(DbContext context)
{
    public DbContext Context { get; } = context;

    public DbSet<PluginRun> Runs => Context.Set<PluginRun>();
}
