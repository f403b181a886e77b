using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>
/// Creates the standalone context for the configured provider from a pool (options built once): a run costs several
/// short-lived contexts (its start, the dispatcher's and the readers' batches, a waiter's read), and a pooled instance
/// skips setting up the context's internal services each time. A context goes back to the pool, reset, when its scope
/// disposes it.
/// </summary>
internal sealed class StandaloneContextFactory
{
    private readonly Lazy<Func<PluginRunDbContext>> _create;

    public StandaloneContextFactory(IOptions<PluginRunStoreOptions> options)
    {
        _create = new Lazy<Func<PluginRunDbContext>>(() =>
        {
            var value = options.Value;
            var connectionString = value.ConnectionString ?? throw new OptionsValidationException(
                Options.DefaultName, typeof(PluginRunStoreOptions), [StandaloneStoreOptionsValidator.MissingConnectionMessage]);
            switch (value.Provider)
            {
                case PluginRunStoreProvider.Npgsql:
                    var npgsql = new PooledDbContextFactory<NpgsqlPluginRunDbContext>(
                        new DbContextOptionsBuilder<NpgsqlPluginRunDbContext>().UseNpgsql(WithStoreDefaults(connectionString)).Options);
                    return npgsql.CreateDbContext;
                default:
                    var sqlite = new PooledDbContextFactory<SqlitePluginRunDbContext>(
                        new DbContextOptionsBuilder<SqlitePluginRunDbContext>().UseSqlite(connectionString).AddPluginRunStoreInterceptors().Options);
                    return sqlite.CreateDbContext;
            }
        });
    }

    public PluginRunDbContext Create() => _create.Value();

    /// <summary>
    /// The Npgsql connection string of the package's own context, with two defaults where the string leaves them unset:
    /// <c>Max Auto Prepare</c> (the few statements every run goes through are prepared on each connection once, not
    /// parsed and planned at every call) and <c>No Reset On Close</c> (the context keeps no session state, so a pooled
    /// connection is not reset with <c>DISCARD ALL</c> each time it is opened). A value the string gives is kept.
    /// </summary>
    internal static string WithStoreDefaults(string connectionString)
    {
        // Npgsql's builder answers ContainsKey for any keyword it knows; the generic one says what the string holds.
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>().Select(static key => key.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant()).ToHashSet();
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!given.Contains("MAXAUTOPREPARE"))
        {
            builder.MaxAutoPrepare = StoreMaxAutoPrepare;
        }

        if (!given.Contains("NORESETONCLOSE"))
        {
            builder.NoResetOnClose = true;
        }

        return builder.ConnectionString;
    }

    /// <summary>How many statements a connection of the package's own context keeps prepared, unless the string says.</summary>
    internal const int StoreMaxAutoPrepare = 32;
}
