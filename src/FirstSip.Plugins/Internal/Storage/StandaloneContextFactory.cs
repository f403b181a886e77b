using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>Creates the standalone context for the configured provider (options built once).</summary>
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
                    var npgsql = new DbContextOptionsBuilder<NpgsqlPluginRunDbContext>().UseNpgsql(connectionString).Options;
                    return () => new NpgsqlPluginRunDbContext(npgsql);
                default:
                    var sqlite = new DbContextOptionsBuilder<SqlitePluginRunDbContext>().UseSqlite(connectionString).AddPluginRunStoreInterceptors().Options;
                    return () => new SqlitePluginRunDbContext(sqlite);
            }
        });
    }

    public PluginRunDbContext Create() => _create.Value();
}
