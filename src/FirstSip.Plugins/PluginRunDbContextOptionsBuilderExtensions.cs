using FirstSip.Plugins.Internal.Storage;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Configures a host's own <see cref="DbContext"/> for the run store.</summary>
public static class PluginRunDbContextOptionsBuilderExtensions
{
    /// <summary>
    /// Adds the run store's interceptors to a context's options. On SQLite, the writers of this process (starts, the
    /// dispatcher, the result and event readers, the host's own writes through this context) then take the database's
    /// write lock in turn, queued without blocking a thread, instead of retrying a busy database in sleeps of 150 ms.
    /// They do nothing on other providers.
    /// </summary>
    /// <remarks>
    /// <c>AddPluginRunStore&lt;TContext&gt;</c> adds them to <c>TContext</c>'s options already when the
    /// context is registered as itself (<c>AddDbContext&lt;TContext&gt;</c>). Call this where the registered context type
    /// is a different one, e.g. <c>AddDbContext&lt;AppDbContext, SqliteAppDbContext&gt;(o =&gt; o.UseSqlite(...).AddPluginRunStoreInterceptors())</c>.
    /// Adding them twice is harmless.
    /// </remarks>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="optionsBuilder">The options builder.</param>
    /// <returns>The options builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="optionsBuilder"/> is null.</exception>
    public static TBuilder AddPluginRunStoreInterceptors<TBuilder>(this TBuilder optionsBuilder)
        where TBuilder : DbContextOptionsBuilder
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        optionsBuilder.AddInterceptors(SqliteWriteGate.Instance);
        return optionsBuilder;
    }
}
