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
    public async Task StartsMadeWhileTheTableIsLocked_AreWrittenInAtMostTwoSaves(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        using var saves = new SaveCounter(host.ConnectionString);

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
        Assert.Equal(20, saves.Entities);
        Assert.InRange(saves.Count, 1, 2);
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

    /// <summary>Counts EF Core's completed saves (and the entities they wrote) on one database.</summary>
    private sealed class SaveCounter : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
    {
        private readonly string _connectionString;
        private readonly IDisposable _all;
        private readonly List<IDisposable> _listeners = [];
        private int _count;
        private int _entities;

        public SaveCounter(string connectionString)
        {
            _connectionString = connectionString;
            _all = DiagnosticListener.AllListeners.Subscribe(this);
        }

        public int Count => Volatile.Read(ref _count);

        public int Entities => Volatile.Read(ref _entities);

        public void OnNext(DiagnosticListener value)
        {
            if (value.Name == DbLoggerCategory.Name)
            {
                lock (_listeners)
                {
                    _listeners.Add(value.Subscribe(this));
                }
            }
        }

        public void OnNext(KeyValuePair<string, object?> value)
        {
            if (value.Key == CoreEventId.SaveChangesCompleted.Name && value.Value is SaveChangesCompletedEventData data
                && data.Context?.Database.GetConnectionString() == _connectionString)
            {
                Interlocked.Increment(ref _count);
                Interlocked.Add(ref _entities, data.EntitiesSavedCount);
            }
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void Dispose()
        {
            _all.Dispose();
            lock (_listeners)
            {
                _listeners.ForEach(l => l.Dispose());
            }
        }
    }
}
