using FirstSip.Testing;

namespace FirstSip.Plugins.Tests.Infrastructure;

/// <summary>The real servers the suite runs against: one Redis and one PostgreSQL for the whole collection.</summary>
public sealed class ServersFixture : IAsyncLifetime
{
    public RedisServer Redis { get; } = new();

    public PostgresServer Postgres { get; } = new();

    public async Task InitializeAsync()
    {
        await Task.WhenAll(Redis.InitializeAsync(), Postgres.InitializeAsync());
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Redis.DisposeAsync();
        }
        finally
        {
            await Postgres.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ServersCollectionDefinition : ICollectionFixture<ServersFixture>
{
    public const string Name = "plugin-run-servers";
}

/// <summary>The database a test runs on.</summary>
public enum Db
{
    Sqlite,
    Postgres,
}
