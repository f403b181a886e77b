using System.Diagnostics;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace FirstSip.Plugins.Tests.Runs;

/// <summary>
/// Concurrent starts on the package's own context share their commits; a host's context writes each start itself; a waiter
/// of a run this process ends gets the row as committed.
/// </summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class StartBatchingTests(ServersFixture servers) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartsMadeWhileTheTableIsLocked_AreWrittenInAtMostTwoInserts(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        using var inserts = new EfEventCounter(
            host.ConnectionString,
            RelationalEventId.CommandExecuted,
            where: static d => ((CommandExecutedEventData)d).Command.CommandText.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase),
            weight: static d => (int)((CommandExecutedEventData)d).Result!);

        // Another writer holds the table: the first start's write waits for it, and every start made meanwhile gathers.
        await using var holder = host.Services.CreateAsyncScope();
        var holding = holder.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context;
        var transaction = await holding.Database.BeginTransactionAsync();
        if (db == Db.Postgres)
        {
            await holding.Database.ExecuteSqlRawAsync("LOCK TABLE plugin_runs IN EXCLUSIVE MODE");
        }

        var scopes = Enumerable.Range(0, 20).Select(_ => host.Services.CreateAsyncScope()).ToList();
        var starts = scopes.Select(s => s.ServiceProvider.GetRequiredService<IPluginRunner>()
            .StartAsync(Echo())).ToList();
        Assert.All(starts, s => Assert.False(s.IsCompleted));

        await transaction.CommitAsync();
        var runs = await Task.WhenAll(starts).WaitAsync(Timeout);
        await transaction.DisposeAsync();
        foreach (var scope in scopes)
        {
            await scope.DisposeAsync();
        }

        Assert.Equal(20, runs.Select(r => r.RunId).Distinct().Count());
        Assert.Equal(20, (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()))).TotalCount);
        Assert.Equal(20, inserts.Total);
        Assert.InRange(inserts.Count, 1, 2);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task OnTheHostsContext_AStartSavesTheCallersOtherChangesWithIt(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false, HostContext = true });
        await using var scope = host.Services.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TestHostDbContext>();
        context.Briefings.Add(new Briefing { Id = Guid.NewGuid(), RunId = Guid.NewGuid(), UserId = "42", Summary = "written with the run" });

        await scope.ServiceProvider.GetRequiredService<IPluginRunner>().StartAsync(Echo());

        await using var check = host.Services.CreateAsyncScope();
        Assert.Equal(1, await check.ServiceProvider.GetRequiredService<TestHostDbContext>().Briefings.CountAsync());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AWaiterOfARunThisProcessEnds_GetsTheRunAsStored(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1, At = DateTimeOffset.UtcNow });
        var waiting = host.WithRunnerAsync(r => r.WaitAsync(run.RunId));
        var hub = host.Services.GetRequiredService<RunUpdateHub>();
        await Eventually.UntilAsync(() => hub.SubscriberCount(run.RunId) == 1, Timeout, "the waiter to subscribe");

        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = "{\"summary\":\"s\"}", Attempt = 1 });
        var waited = await waiting.WaitAsync(Timeout);

        var stored = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Completed, waited.Status);
        Assert.Equivalent(stored, waited, strict: true);
    }

    private static StartPluginRunRequest Echo() =>
        new() { PluginName = "echo", UserId = "42", Settings = new System.Text.Json.Nodes.JsonObject { ["topics"] = new System.Text.Json.Nodes.JsonArray("ai") } };
}
