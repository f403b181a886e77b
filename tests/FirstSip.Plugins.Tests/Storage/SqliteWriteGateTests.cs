using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace FirstSip.Plugins.Tests.Storage;

/// <summary>
/// The SQLite writers of one process queue on an async gate per database file: a writer waits (without a thread) while
/// another holds the write lock, and the gate is given back however the writer ends.
/// </summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class SqliteWriteGateTests(ServersFixture servers) : IDisposable
{
    // Far below the gate's own limit (30 s): a gate that was not given back makes the next writer miss this.
    private static readonly TimeSpan NoLeak = TimeSpan.FromSeconds(10);

    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASecondWriter_WaitsForTheFirstTransaction_WhicheverContextWrites(bool hostContext)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = Db.Sqlite, HostContext = hostContext, Start = false });
        await using var first = host.Services.CreateAsyncScope();
        await using var second = host.Services.CreateAsyncScope();
        var firstContext = first.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
        var secondContext = second.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;

        var holding = await firstContext.Database.BeginTransactionAsync();
        var waiting = secondContext.Database.BeginTransactionAsync();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);

        await holding.CommitAsync();
        await using var started = await waiting.WaitAsync(NoLeak);
        await started.RollbackAsync();
        await holding.DisposeAsync();
    }

    [Fact]
    public async Task TheGate_IsGivenBack_AfterRollback_AfterDisposeWithoutCommit_AndAfterAFailedWrite()
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = Db.Sqlite, Start = false });
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>();
        var context = db.Context;

        var rolledBack = await context.Database.BeginTransactionAsync();
        await rolledBack.RollbackAsync();
        await rolledBack.DisposeAsync();

        var abandoned = await context.Database.BeginTransactionAsync().WaitAsync(NoLeak);
        await abandoned.DisposeAsync();

        var run = await host.StartRunAsync();
        db.Runs.Add(new PluginRun
        {
            RunId = run.RunId,
            PluginName = run.PluginName,
            UserId = run.UserId,
            Settings = run.Settings,
            CreatedAt = run.CreatedAt,
            Version = 1,
        });
        await Assert.ThrowsAsync<DbUpdateException>(() => context.SaveChangesAsync());
        context.ChangeTracker.Clear();

        // An autocommit write (the next start) and a transaction from another scope both get the gate at once.
        await host.StartRunAsync().WaitAsync(NoLeak);
        await using var other = host.Services.CreateAsyncScope();
        var otherContext = other.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
        await using var next = await otherContext.Database.BeginTransactionAsync().WaitAsync(NoLeak);
        await next.CommitAsync();
    }

    [Fact]
    public void OnlyWritesOutsideATransaction_TakeTheGateByThemselves()
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:");
        using var command = connection.CreateCommand();
        foreach (var (sql, writes) in new[]
        {
            ("  INSERT INTO t VALUES (1) RETURNING id", true),
            ("update t set a = 1", true),
            ("DELETE FROM t", true),
            ("REPLACE INTO t VALUES (1)", true),
            ("SELECT * FROM t", false),
            ("PRAGMA journal_mode=WAL;", false),
        })
        {
            command.CommandText = sql;
            Assert.Equal(writes, SqliteWriteGate.IsWriteOutsideTransaction(command));
        }
    }
}
