using FirstSip.Plugins;
using FirstSip.Plugins.Internal.Storage;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Adds the <see cref="PluginRun"/> entity to a host's own <see cref="DbContext"/>.</summary>
public static class PluginRunModelBuilderExtensions
{
    /// <summary>
    /// Maps <see cref="PluginRun"/> to the table <c>plugin_runs</c> (snake_case columns, status as its lowercase
    /// wire text, settings and output as JSON text, an app-managed <c>version</c> concurrency token). Call it from
    /// <c>OnModelCreating</c> of the context you pass to <c>AddPluginRunStore&lt;TContext&gt;</c>, then add a
    /// migration of your own context.
    /// </summary>
    /// <remarks>
    /// Date and time columns are <c>timestamptz</c> (UTC) on PostgreSQL and SQL Server's native type; on SQLite and
    /// other providers they are stored as 64-bit binary values (<c>DateTimeOffsetToBinaryConverter</c>), so they can be
    /// compared and sorted.
    /// </remarks>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="tableName">The table name.</param>
    /// <param name="schema">The schema, or <see langword="null"/> for the default.</param>
    /// <returns>The model builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="modelBuilder"/> is null.</exception>
    public static ModelBuilder AddPluginRuns(this ModelBuilder modelBuilder, string tableName = "plugin_runs", string? schema = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        PluginRunModel.Configure(modelBuilder, tableName, schema);
        return modelBuilder;
    }
}
