using System.Text.Json;
using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FirstSip.Plugins.Tests.Runs;

[Collection(ServersCollectionDefinition.Name)]
public sealed class PluginRunnerTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private Task<TestHost> HostAsync(Db db, FakeTimeProvider? time = null, bool hostContext = false) =>
        TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false, Time = time, HostContext = hostContext });

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_WritesPendingRunWithMergedSettings(Db db)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await HostAsync(db, time);

        var run = await host.StartRunAsync(settingsJson: """{"topics":["ai"],"count":5}""");

        var stored = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Pending, stored.Status);
        Assert.Equal("echo", stored.PluginName);
        Assert.Equal("42", stored.UserId);
        Assert.Equal(1, stored.Attempt);
        Assert.Equal(3, stored.MaxAttempts);
        Assert.Equal(90, stored.TimeoutSeconds);
        Assert.Equal(time.GetUtcNow(), stored.CreatedAt);
        Assert.Null(stored.DispatchedAt);
        Assert.Null(stored.Deadline);
        var settings = JsonNode.Parse(stored.Settings)!.AsObject();
        Assert.Equal(5, settings["count"]!.GetValue<int>());
        Assert.Equal("brief", settings["summary_length"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_StatusIsStoredAsTheWireText(Db db)
    {
        await using var host = await HostAsync(db);
        var run = await host.StartRunAsync();
        await host.UpdateRunAsync(run.RunId, r => r.Status = PluginRunStatus.TimedOut);

        var text = await host.InScopeAsync(async sp =>
        {
            var context = sp.GetRequiredService<RunDbContextAccessor>().Context;
            var connection = context.Database.GetDbConnection();
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT status FROM plugin_runs";
            return (string?)await command.ExecuteScalarAsync();
        });

        Assert.Equal("timed_out", text);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_UnknownPlugin_Throws_AndWritesNothing(Db db)
    {
        await using var host = await HostAsync(db);

        var ex = await Assert.ThrowsAsync<UnknownPluginException>(() => host.StartRunAsync(plugin: "nope"));

        Assert.Equal("nope", ex.PluginName);
        Assert.Contains("nope", ex.Message);
        Assert.Equal(0, (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()))).TotalCount);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_InvalidSettings_ListsEveryFailingPath_AndWritesNothing(Db db)
    {
        await using var host = await HostAsync(db);

        var ex = await Assert.ThrowsAsync<InvalidPluginSettingsException>(() =>
            host.StartRunAsync(settingsJson: """{"topics":[],"count":99,"summary_length":"long","unknown":1}"""));

        Assert.Equal("echo", ex.PluginName);
        Assert.Equal(["count", "summary_length", "topics", "unknown"], ex.Errors.Select(e => e.Path).Order());
        foreach (var path in new[] { "count", "summary_length", "topics", "unknown" })
        {
            Assert.Contains(path, ex.Message);
        }

        Assert.IsAssignableFrom<FirstSip.Streams.FirstSipException>(ex);
        Assert.Equal(0, (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()))).TotalCount);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_IdempotencyKey_InsideWindowReturnsTheRun_OutsideCreatesANewOne(Db db)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await HostAsync(db, time);
        StartPluginRunRequest Request(string user = "7") => new()
        {
            PluginName = "echo",
            UserId = user,
            Settings = new JsonObject { ["topics"] = new JsonArray("ai") },
            IdempotencyKey = "daily-2026-03-01",
        };

        var first = await host.StartRunAsync(Request());
        time.Advance(TimeSpan.FromMinutes(29));
        var again = await host.StartRunAsync(Request());
        var otherUser = await host.StartRunAsync(Request(user: "8"));
        time.Advance(TimeSpan.FromMinutes(2));
        var afterWindow = await host.StartRunAsync(Request());
        time.Advance(TimeSpan.FromSeconds(1));
        var shortWindow = await host.StartRunAsync(new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "7",
            Settings = new JsonObject { ["topics"] = new JsonArray("ai") },
            IdempotencyKey = "daily-2026-03-01",
            IdempotencyWindow = TimeSpan.FromMilliseconds(500),
        });

        Assert.Equal(first.RunId, again.RunId);
        Assert.NotEqual(first.RunId, otherUser.RunId);
        Assert.NotEqual(first.RunId, afterWindow.RunId);
        Assert.NotEqual(afterWindow.RunId, shortWindow.RunId);
        Assert.Equal(4, (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()))).TotalCount);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_EightConcurrentStartsWithOneIdempotencyKey_CreateOneRun(Db db)
    {
        await using var host = await HostAsync(db);
        var request = new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "9",
            Settings = new JsonObject { ["topics"] = new JsonArray("ai") },
            IdempotencyKey = "once",
        };
        using var go = new ManualResetEventSlim();

        var starts = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            go.Wait();
            return await host.StartRunAsync(request);
        })).ToArray();
        go.Set();
        var runs = await Task.WhenAll(starts);

        Assert.Single(runs.Select(r => r.RunId).Distinct());
        Assert.Equal(1, (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()))).TotalCount);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task StartAsync_InCallersTransaction_CommitsOrRollsBackWithIt(Db db)
    {
        await using var host = await HostAsync(db, hostContext: true);
        var request = new StartPluginRunRequest { PluginName = "echo", UserId = "1", Settings = new JsonObject { ["topics"] = new JsonArray("ai") } };

        var rolledBack = await host.InScopeAsync(async sp =>
        {
            var context = sp.GetRequiredService<TestHostDbContext>();
            await using var transaction = await context.Database.BeginTransactionAsync();
            context.Briefings.Add(new Briefing { Id = Guid.NewGuid(), Summary = "host row" });
            var run = await sp.GetRequiredService<IPluginRunner>().StartAsync(request);
            await transaction.RollbackAsync();
            return run;
        });
        var committed = await host.InScopeAsync(async sp =>
        {
            var context = sp.GetRequiredService<TestHostDbContext>();
            await using var transaction = await context.Database.BeginTransactionAsync();
            context.Briefings.Add(new Briefing { Id = Guid.NewGuid(), Summary = "host row" });
            var run = await sp.GetRequiredService<IPluginRunner>().StartAsync(request);
            await transaction.CommitAsync();
            return run;
        });

        Assert.Null(await host.GetAsync(rolledBack.RunId));
        Assert.NotNull(await host.GetAsync(committed.RunId));
        Assert.Equal(1, await host.InScopeAsync(sp => sp.GetRequiredService<TestHostDbContext>().Briefings.CountAsync()));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ListAsync_FiltersAndPages_NewestFirst(Db db)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await HostAsync(db, time);
        var runs = new List<PluginRun>();
        for (var i = 0; i < 5; i++)
        {
            runs.Add(await host.StartRunAsync(user: i % 2 == 0 ? "even" : "odd"));
            time.Advance(TimeSpan.FromMinutes(1));
        }

        runs.Add(await host.StartRunAsync(plugin: "plain", user: "even", settingsJson: null));
        await host.UpdateRunAsync(runs[0].RunId, r => r.Status = PluginRunStatus.Completed);

        var page1 = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { UserId = "even", Take = 2 }));
        var page2 = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { UserId = "even", Take = 2, Skip = 2 }));
        var echoOnly = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { PluginName = "echo" }));
        var completed = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { Statuses = [PluginRunStatus.Completed] }));
        var pendingOrCompleted = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { Statuses = [PluginRunStatus.Completed, PluginRunStatus.Pending] }));
        var window = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery
        {
            CreatedFrom = runs[1].CreatedAt,
            CreatedBefore = runs[3].CreatedAt,
        }));

        Assert.Equal(4, page1.TotalCount);
        Assert.Equal([runs[5].RunId, runs[4].RunId], page1.Items.Select(r => r.RunId));
        Assert.True(page1.HasMore);
        Assert.Equal([runs[2].RunId, runs[0].RunId], page2.Items.Select(r => r.RunId));
        Assert.False(page2.HasMore);
        Assert.Equal(5, echoOnly.TotalCount);
        Assert.Equal(runs[0].RunId, Assert.Single(completed.Items).RunId);
        Assert.Equal(6, pendingOrCompleted.TotalCount);
        Assert.Equal([runs[2].RunId, runs[1].RunId], window.Items.Select(r => r.RunId));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { Take = 0 })));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CancelAsync_MarksCancelled_AndSignalsTheWorkers(Db db)
    {
        await using var host = await HostAsync(db);
        var run = await host.StartRunAsync();
        var subscriber = host.Redis.Connection.GetSubscriber();
        var channel = StackExchange.Redis.RedisChannel.Literal(host.Prefix + "cancel");
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await subscriber.SubscribeAsync(channel, (_, value) => received.TrySetResult(value!));
        try
        {
            Assert.True(await host.WithRunnerAsync(r => r.CancelAsync(run.RunId, "user asked")));
            Assert.False(await host.WithRunnerAsync(r => r.CancelAsync(run.RunId)));
            Assert.False(await host.WithRunnerAsync(r => r.CancelAsync(Guid.NewGuid())));

            var stored = await host.GetRequiredAsync(run.RunId);
            Assert.Equal(PluginRunStatus.Cancelled, stored.Status);
            Assert.Equal("user asked", stored.Error);
            Assert.NotNull(stored.CompletedAt);
            var key = $"{host.Prefix}run:{run.RunId:D}:cancel";
            var database = host.Redis.Connection.GetDatabase();
            Assert.Equal("user asked", (string?)await database.StringGetAsync(key));
            var ttl = await database.KeyTimeToLiveAsync(key);
            Assert.NotNull(ttl);
            Assert.InRange(ttl.Value, TimeSpan.FromHours(23), TimeSpan.FromHours(24));
            Assert.Equal(run.RunId.ToString("D"), await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            await subscriber.UnsubscribeAsync(channel);
        }
    }

    [Fact]
    public async Task PluginRun_SettingsAreStoredAsJsonText()
    {
        await using var host = await HostAsync(Db.Postgres);
        var run = await host.StartRunAsync(settingsJson: """{"topics":["ai"],"count":2}""");

        var type = await host.InScopeAsync(async sp =>
        {
            var connection = sp.GetRequiredService<RunDbContextAccessor>().Context.Database.GetDbConnection();
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT data_type FROM information_schema.columns WHERE table_name = 'plugin_runs' AND column_name = 'settings'";
            return (string?)await command.ExecuteScalarAsync();
        });

        Assert.Equal("text", type);
        using var parsed = JsonDocument.Parse((await host.GetRequiredAsync(run.RunId)).Settings);
        Assert.Equal(2, parsed.RootElement.GetProperty("count").GetInt32());
    }
}
