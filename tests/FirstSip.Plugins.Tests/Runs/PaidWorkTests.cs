using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using FirstSip.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Runs;

/// <summary>A completed result is paid work: no database outage, backstop or retry throws it away; only the user's cancel is final.</summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class PaidWorkTests(ServersFixture servers) : IDisposable
{
    private const string Briefing = """{"summary":"Markets rose.","sections":[]}""";

    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static void ShortClaims(IPluginRunStoreBuilder builder) =>
        builder.AddCompletionHandler<BriefingCompletionHandler>().ConfigureReaders(o =>
        {
            o.MaxDeliveries = 1;
            o.ClaimTimeout = TimeSpan.FromMilliseconds(500);
            o.ClaimInterval = TimeSpan.FromMilliseconds(200);
            o.RenewInterval = TimeSpan.FromMilliseconds(100);
        });

    [Fact]
    public async Task DatabaseOutage_LongerThanMaxDeliveriesClaimCycles_LosesNoCompletedResult()
    {
        var postgresPort = new Npgsql.NpgsqlConnectionStringBuilder(servers.Postgres.ConnectionString).Port;
        await using var gate = new TcpGate(postgresPort);
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = Db.Postgres,
            DatabaseGate = gate,
            HostContext = true,
            Builder = ShortClaims,
            Services = s => s.AddSingleton(new BriefingCompletionHandler.Switch()),
        });
        var run = await host.StartRunAsync();
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Dispatched,
            TimeSpan.FromSeconds(30), "the run dispatched");

        gate.Close();
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing, Attempt = 1 });

        // Six tries of the result in process take more than three seconds of backoff: several times the claim timeout.
        await Eventually.UntilAsync(
            () => host.Logs.GetSnapshot().Count(r => r.Id.Id == Log.DatabaseUnavailableId) >= 6,
            TimeSpan.FromSeconds(120),
            "six tries of the result while the database is unreachable");
        var redis = host.Redis.Connection.GetDatabase();
        var pending = Assert.Single(await redis.StreamPendingMessagesAsync(host.ResultsStream, "app-workers", 10, RedisValue.Null));
        Assert.Equal(1, pending.DeliveryCount);
        Assert.Equal(0, await redis.StreamLengthAsync(host.ResultsStream + ":dead"));

        gate.Open();
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Completed,
            TimeSpan.FromSeconds(60), "the result applied once the database is back");
        await Eventually.UntilAsync(async () => (await redis.StreamPendingAsync(host.ResultsStream, "app-workers")).PendingMessageCount == 0,
            TimeSpan.FromSeconds(30), "the result acknowledged");
        Assert.Equal(1, await host.InScopeAsync(sp => Task.FromResult(sp.GetRequiredService<TestHostDbContext>().Briefings.Count(b => b.RunId == run.RunId))));
        Assert.Equal(0, await redis.StreamLengthAsync(host.ResultsStream + ":dead"));
    }

    [Fact]
    public async Task SqliteBusy_TheResultWaitsForTheLock_AndIsApplied()
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = Db.Sqlite, Builder = ShortClaims, HostContext = true,
            Services = s => s.AddSingleton(new BriefingCompletionHandler.Switch()) });
        var run = await host.StartRunAsync();
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Dispatched,
            TimeSpan.FromSeconds(30), "the run dispatched");

        // Another process holds the write lock longer than SQLite's own busy timeout.
        await using (var other = new SqliteConnection($"Data Source={host.SqliteFile};Default Timeout=1"))
        {
            await other.OpenAsync();
            await using var hold = other.CreateCommand();
            hold.CommandText = "BEGIN IMMEDIATE;";
            await hold.ExecuteNonQueryAsync();
            await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing });
            await Eventually.UntilAsync(() => host.Logs.GetSnapshot().Any(r => r.Id.Id == Log.DatabaseUnavailableId),
                TimeSpan.FromSeconds(120), "a try that found the database locked");
            hold.CommandText = "ROLLBACK;";
            await hold.ExecuteNonQueryAsync();
        }

        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Completed,
            TimeSpan.FromSeconds(60), "the result applied once the lock is released");
    }

    [Theory]
    [InlineData(Db.Sqlite, PluginFailureKind.TimedOut)]
    [InlineData(Db.Sqlite, PluginFailureKind.NotStarted)]
    [InlineData(Db.Postgres, PluginFailureKind.TimedOut)]
    public async Task FailedResult_WhoseKindIsATimeout_EndsTheRunTimedOut(Db db, PluginFailureKind kind)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        var outcome = await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "timed out after 90 s", FailureKind = kind, Attempt = 1 });

        Assert.Equal(ResultOutcome.Applied, outcome);
        var ended = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.TimedOut, ended.Status);
        Assert.Equal("timed out after 90 s", ended.Error);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RetryWithDefer_WaitsTheLongerOfThePluginsDelayAndTheBackoff(Db db)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false, Time = time });
        var run = await host.StartRunAsync(maxAttempts: 3);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        var retry = new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "429", Retryable = true, RetryDelay = TimeSpan.FromMinutes(2), Attempt = 1 };
        Assert.Equal(ResultOutcome.RetryScheduled, await host.ApplyAsync(retry));
        var waiting = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromMinutes(2), waiting.NextAttemptAt);
        Assert.Null(waiting.RequestId);

        time.Advance(TimeSpan.FromMinutes(2));
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        Assert.Equal(ResultOutcome.RetryScheduled, await host.ApplyAsync(retry with { Attempt = 2, RetryDelay = TimeSpan.FromSeconds(1) }));
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(10), (await host.GetRequiredAsync(run.RunId)).NextAttemptAt);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CompletedResultOfAnEarlierAttempt_WhileTheRetryWaits_CompletesTheRun(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync(maxAttempts: 3);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "flaky", Retryable = true, Attempt = 1 });

        var outcome = await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing, Attempt = 1 });

        Assert.Equal(ResultOutcome.Applied, outcome);
        var completed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Completed, completed.Status);
        Assert.Null(completed.NextAttemptAt);
        Assert.Equal(0, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Claimed);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task UsersCancel_IsFinal_ACompletedResultAfterItChangesNothing(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        Assert.True(await host.WithRunnerAsync(r => r.CancelAsync(run.RunId, "not needed any more")));
        var cancelled = await host.GetRequiredAsync(run.RunId);
        Assert.False(cancelled.StopSignalPending);
        Assert.Equal("not needed any more", (string?)await host.Redis.Connection.GetDatabase().StringGetAsync($"{host.Prefix}run:{run.RunId:D}:cancel"));

        var outcome = await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing });

        Assert.Equal(ResultOutcome.Duplicate, outcome);
        Assert.Equal(PluginRunStatus.Cancelled, (await host.GetRequiredAsync(run.RunId)).Status);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ResultWithItsLastStep_SetsIt_AndAWatcherSeesTheStepBeforeTheEnd_WhenTheStepsEventIsNotAppliedYet(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });

        using var watching = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var updates = new List<PluginRunUpdate>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = host.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, watching.Token))
            {
                updates.Add(update);
                first.TrySetResult();
            }

            return true;
        });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The step's event is on the stream but not applied yet when the result arrives.
        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "review_task", Attempt = 1, At = DateTimeOffset.UtcNow });
        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing, Attempt = 1, LastStep = "review_task" });
        await watch;

        Assert.Equal("review_task", (await host.GetRequiredAsync(run.RunId)).LastStep);
        var step = updates.FindIndex(u => u.Kind == PluginRunUpdateKind.Progress && u.Step == "review_task");
        var end = updates.FindIndex(u => u.Status == PluginRunStatus.Completed && u.Kind == PluginRunUpdateKind.Status);
        Assert.True(step >= 0 && step < end, string.Join(", ", updates.Select(u => $"{u.Kind}:{u.Status}:{u.Step}")));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ResultBeforeItsStartedEvent_TheRunPassesThroughRunning_AndAWatcherSeesEachTransitionOnce(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        using var watching = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var statuses = new List<PluginRunStatus>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = host.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, watching.Token))
            {
                if (update.Kind == PluginRunUpdateKind.Status)
                {
                    statuses.Add(update.Status);
                }

                first.TrySetResult();
            }

            return true;
        });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = Briefing, Attempt = 1, DurationMs = 40 });
        await watch;
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });

        Assert.Equal([PluginRunStatus.Dispatched, PluginRunStatus.Running, PluginRunStatus.Completed], statuses);
        var completed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Completed, completed.Status);
        Assert.NotNull(completed.StartedAt);
    }
}
