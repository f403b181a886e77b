using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace FirstSip.Plugins.Tests.Storage;

[Collection(ServersCollectionDefinition.Name)]
public sealed class MigrationTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Fact]
    public void Migrations_MatchTheModel_ForEachProvider()
    {
        using var sqlite = new SqlitePluginRunDbContextDesignFactory().CreateDbContext([]);
        using var npgsql = new NpgsqlPluginRunDbContextDesignFactory().CreateDbContext([]);

        Assert.False(sqlite.Database.HasPendingModelChanges());
        Assert.False(npgsql.Database.HasPendingModelChanges());
        // The same migrations, in the same order, for each provider.
        Assert.Equal(["InitialCreate", "QueueAwareLifecycle", "SealedRunSecrets", "PluginSchedules"], sqlite.Database.GetMigrations().Select(m => m[15..]));
        Assert.Equal(["InitialCreate", "QueueAwareLifecycle", "SealedRunSecrets", "PluginSchedules"], npgsql.Database.GetMigrations().Select(m => m[15..]));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task MigratePluginRunStoreAsync_AppliesEveryMigration_AndIsRepeatable(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });

        await host.Services.MigratePluginRunStoreAsync();

        var (applied, pending, journal) = await host.InScopeAsync(async sp =>
        {
            var context = sp.GetRequiredService<RunDbContextAccessor>().Context;
            var appliedMigrations = (await context.Database.GetAppliedMigrationsAsync()).ToList();
            var pendingMigrations = (await context.Database.GetPendingMigrationsAsync()).ToList();
            string? mode = null;
            if (context.Database.IsSqlite())
            {
                var connection = context.Database.GetDbConnection();
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "PRAGMA journal_mode;";
                mode = (string?)await command.ExecuteScalarAsync();
            }

            return (appliedMigrations, pendingMigrations, mode);
        });

        Assert.Equal(4, applied.Count);
        Assert.Empty(pending);
        if (db == Db.Sqlite)
        {
            Assert.Equal("wal", journal);
        }
    }
}
