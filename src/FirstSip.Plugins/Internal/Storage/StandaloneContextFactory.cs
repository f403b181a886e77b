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
                        new DbContextOptionsBuilder<NpgsqlPluginRunDbContext>().UseNpgsql(connectionString).Options);
                    return npgsql.CreateDbContext;
                default:
                    var sqlite = new PooledDbContextFactory<SqlitePluginRunDbContext>(
                        new DbContextOptionsBuilder<SqlitePluginRunDbContext>().UseSqlite(connectionString).AddPluginRunStoreInterceptors().Options);
                    return sqlite.CreateDbContext;
            }
        });
    }

    public PluginRunDbContext Create() => _create.Value();
}
