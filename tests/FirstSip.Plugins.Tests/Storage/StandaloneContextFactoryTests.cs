using FirstSip.Plugins.Internal.Storage;
using Npgsql;

namespace FirstSip.Plugins.Tests.Storage;

/// <summary>The package's own PostgreSQL context prepares its statements and skips the reset on close, unless told otherwise.</summary>
public sealed class StandaloneContextFactoryTests
{
    [Fact]
    public void AConnectionStringThatSaysNothing_GetsPreparedStatementsAndNoReset()
    {
        var builder = new NpgsqlConnectionStringBuilder(StandaloneContextFactory.WithStoreDefaults("Host=db;Database=app;Username=u;Password=secret"));

        Assert.Equal((StandaloneContextFactory.StoreMaxAutoPrepare, true), (builder.MaxAutoPrepare, builder.NoResetOnClose));
        Assert.Equal(("db", "app", "u", "secret"), (builder.Host, builder.Database, builder.Username, builder.Password));
    }

    [Theory]
    [InlineData("Host=db;Max Auto Prepare=0;No Reset On Close=false", 0, false)]
    [InlineData("Host=db;maxautoprepare=5;noresetonclose=False", 5, false)]
    [InlineData("Host=db;MaxAutoPrepare=7", 7, true)]
    public void ValuesTheStringGives_AreKept(string connectionString, int maxAutoPrepare, bool noResetOnClose)
    {
        var builder = new NpgsqlConnectionStringBuilder(StandaloneContextFactory.WithStoreDefaults(connectionString));

        Assert.Equal((maxAutoPrepare, noResetOnClose), (builder.MaxAutoPrepare, builder.NoResetOnClose));
    }
}
