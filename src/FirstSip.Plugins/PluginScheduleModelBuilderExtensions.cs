using FirstSip.Plugins;
using FirstSip.Plugins.Internal.Storage;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Adds the <see cref="PluginSchedule"/> entity to a host's own <see cref="DbContext"/>.</summary>
public static class PluginScheduleModelBuilderExtensions
{
    /// <summary>
    /// Maps <see cref="PluginSchedule"/> to the table <c>plugin_schedules</c> (snake_case columns, policies as lowercase
    /// text, settings as JSON text, an app-managed <c>version</c> concurrency token, an index on the next fire time).
    /// Call it from <c>OnModelCreating</c> of the context you pass to <c>AddPluginRunStore&lt;TContext&gt;</c>, next to
    /// <c>AddPluginRuns</c>, then add a migration of your own context. Without it the hosted scheduler stays idle.
    /// </summary>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="tableName">The table name.</param>
    /// <param name="schema">The schema, or <see langword="null"/> for the default.</param>
    /// <returns>The model builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="modelBuilder"/> is null.</exception>
    public static ModelBuilder AddPluginSchedules(this ModelBuilder modelBuilder, string tableName = "plugin_schedules", string? schema = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        PluginScheduleModel.Configure(modelBuilder, tableName, schema);
        return modelBuilder;
    }
}
