using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Dispatch;

[Collection(ServersCollectionDefinition.Name)]
public sealed class RunReaperTests(ServersFixture servers) : IDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(30);

    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private Task<TestHost> HostAsync(Db db, FakeTimeProvider time, Action<PluginRunStoreOptions>? store = null) =>
        TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            Store = o =>
            {
                o.DeadlineGracePeriod = TimeSpan.FromSeconds(10);
                o.LostRequestCheckInterval = CheckInterval;
                store?.Invoke(o);
            },
        });

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    private static string Key(TestHost host, Guid runId, string suffix) => $"{host.Prefix}run:{runId:D}:{suffix}";

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_BackstopCountsFromTheStart_EndsTimedOut_SignalsTheWorkers_AndALateCompletedResultIsStillApplied(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        using var timedOutCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().TimedOut);
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        // A live worker takes the request (and keeps it fresh); ten minutes in the queue are not charged to the 90 s timeout.
        await host.ReadRequestsAsync(1);
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal((0, 0, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        var started = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Running, started.Status);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(90 + 10), started.Deadline);

        time.Advance(TimeSpan.FromSeconds(99));
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);

        var timedOut = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.TimedOut, timedOut.Status);
        Assert.Contains("no result within 90 s of its start", timedOut.Error);
        Assert.False(timedOut.StopSignalPending);
        Assert.Equal(1, timedOutCount.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.RunTimedOutId);
        Assert.Equal(timedOut.Error, (string?)await host.Redis.Connection.GetDatabase().StringGetAsync(Key(host, run.RunId, "cancel")));

        // The worker finished after all: paid work is applied, not thrown away as a duplicate.
        var late = await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"late"}""" });
        Assert.Equal(ResultOutcome.Applied, late);
        var completed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Completed, completed.Status);
        Assert.Null(completed.Error);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.ResultAppliedAfterTimeoutId);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_BackstopOfARunWhoseWorkerDied_WaitsForTheReclaim_AndTheNewStartResetsIt(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var (entryId, _, _) = Assert.Single(await host.ReadRequestsAsync(1));
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });

        // The worker died: nobody renews its pending entry, which another worker will reclaim.
        await host.Redis.Connection.GetDatabase().ExecuteAsync("XCLAIM", host.RequestsStream, "crewai-workers", "test-worker", "0", entryId, "IDLE", "60000", "JUSTID");
        time.Advance(TimeSpan.FromSeconds(101));
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);
        var waiting = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Running, waiting.Status);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(10), waiting.Deadline);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.BackstopDeferredId && r.Message.Contains("idle 60 s", StringComparison.Ordinal));

        // Another worker reclaims it and starts it again: the backstop counts from the new start.
        time.Advance(TimeSpan.FromSeconds(5));
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(90 + 10), (await host.GetRequiredAsync(run.RunId)).Deadline);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_ALongQueue_NeverCreatesAttempts_NorPublishesAgain(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync(maxAttempts: 3);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var request = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Null(request.Request.Deadline);
        Assert.Null(request.Request.QueueDeadline);
        Assert.Equal(request.Id, (await host.GetRequiredAsync(run.RunId)).RequestId);

        for (var i = 0; i < 20; i++)
        {
            time.Advance(TimeSpan.FromMinutes(10));
            Assert.Equal((0, 0, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        }

        var waiting = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Dispatched, waiting.Status);
        Assert.Equal(1, waiting.Attempt);
        Assert.Single(await host.RangeAsync(host.RequestsStream));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_QueueTimeout_EndsARunThatNeverStarted_AndTellsTheWorkersNotToStartIt(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync(new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "7",
            Settings = new() { ["topics"] = new System.Text.Json.Nodes.JsonArray("ai") },
            QueueTimeout = TimeSpan.FromSeconds(30),
        });
        Assert.Equal(30, run.QueueTimeoutSeconds);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var request = Assert.Single(await host.ReadRequestsAsync(1)).Request;
        Assert.Equal(run.CreatedAt + TimeSpan.FromSeconds(30), request.QueueDeadline);

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);

        var ended = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.TimedOut, ended.Status);
        Assert.StartsWith("never started: no worker took the run within its queue timeout of 30 s", ended.Error);
        Assert.Equal(ended.Error, (string?)await host.Redis.Connection.GetDatabase().StringGetAsync(Key(host, run.RunId, "cancel")));

        // A worker that refuses it (not_started) changes nothing more.
        var refusal = await host.ApplyAsync(new PluginResult
        {
            PluginRunId = run.RunId,
            Status = PluginResultStatus.Failed,
            Error = "never started",
            FailureKind = PluginFailureKind.NotStarted,
        });
        Assert.Equal(ResultOutcome.Duplicate, refusal);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_OverallDeadline_EndsThePendingRunThatRedisNeverSaw(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time, o => o.DefaultDeadline = TimeSpan.FromMinutes(5));
        var run = await host.StartRunAsync();
        Assert.Equal(run.CreatedAt + TimeSpan.FromMinutes(5), run.ExpiresAt);

        time.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).TimedOut);
        var ended = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.TimedOut, ended.Status);
        Assert.StartsWith("never started: the run's deadline", ended.Error);
        Assert.Equal(0, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Claimed);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_RequestLostByRedis_IsPublishedAgainAsTheSameAttempt_OnlyOnceProvablyGone(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        using var republished = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().Republished);
        var run = await host.StartRunAsync(maxAttempts: 3);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var first = Assert.Single(await host.RangeAsync(host.RequestsStream));

        // Redis loses the entry (restarted without its data, or lost its last writes).
        await host.Redis.Connection.GetDatabase().StreamDeleteAsync(host.RequestsStream, [first.Id]);

        time.Advance(CheckInterval + TimeSpan.FromSeconds(1));
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Republished);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.RequestMissingId);
        time.Advance(CheckInterval - TimeSpan.FromSeconds(2));
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Republished);
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Republished);

        var again = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Pending, again.Status);
        Assert.Equal(1, again.Attempt);
        Assert.Null(again.RequestId);
        Assert.Equal(1, republished.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.RequestLostId);

        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Published);
        var second = Assert.Single(await host.RangeAsync(host.RequestsStream));
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal("1", (string?)second.Values.Single(v => v.Name == "attempt").Value);
        Assert.Equal(second.Id.ToString(), (await host.GetRequiredAsync(run.RunId)).RequestId);
    }

    [Theory]
    [InlineData(Db.Sqlite, "lease")]
    [InlineData(Db.Sqlite, "done")]
    [InlineData(Db.Postgres, "lease")]
    public async Task Reaper_MissingRequest_OfARunAWorkerHoldsOrFinished_IsNotPublishedAgain(Db db, string key)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        var entry = Assert.Single(await host.RangeAsync(host.RequestsStream));
        var redis = host.Redis.Connection.GetDatabase();
        await redis.StreamDeleteAsync(host.RequestsStream, [entry.Id]);
        await redis.StringSetAsync(Key(host, run.RunId, key), key == "done" ? "final:1" : "worker-1:1-1");

        // Two checks an interval apart would prove an entry lost; both stay inside the run's 90 s timeout.
        for (var i = 0; i < 2; i++)
        {
            time.Advance(CheckInterval + TimeSpan.FromSeconds(1));
            Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Republished);
        }

        Assert.Equal(PluginRunStatus.Running, (await host.GetRequiredAsync(run.RunId)).Status);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_RunClaimedButNeverPublished_GoesBackToPending(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync();

        // The app stopped between the claim and the publish: the run is dispatched, with no request id.
        await host.UpdateRunAsync(run.RunId, r =>
        {
            r.Status = PluginRunStatus.Dispatched;
            r.DispatchedAt = time.GetUtcNow();
        });
        time.Advance(CheckInterval + TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Republished);
        Assert.Equal(PluginRunStatus.Pending, (await host.GetRequiredAsync(run.RunId)).Status);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.UnpublishedRunPutBackId);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_SendsTheStopSignalsStillOwed(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time);
        var run = await host.StartRunAsync();
        await host.UpdateRunAsync(run.RunId, r =>
        {
            r.Status = PluginRunStatus.Cancelled;
            r.Error = "stopped by the operator";
            r.StopSignalPending = true;
        });

        Assert.Equal(1, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Signalled);
        Assert.Equal("stopped by the operator", (string?)await host.Redis.Connection.GetDatabase().StringGetAsync(Key(host, run.RunId, "cancel")));
        Assert.False((await host.GetRequiredAsync(run.RunId)).StopSignalPending);
        Assert.Equal(0, (await host.Reaper.ReapOnceAsync(CancellationToken.None)).Signalled);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_HostedLoop_RunsOnTheTimeProvider(Db db)
    {
        var time = Clock();
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Time = time,
            Store = o =>
            {
                o.DefaultQueueTimeout = TimeSpan.FromMinutes(1);
                o.ReaperInterval = TimeSpan.FromSeconds(1);
            },
        });
        var run = await host.StartRunAsync();
        await Eventually.UntilAsync(async () => (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.Dispatched,
            TimeSpan.FromSeconds(30), "the run dispatched");

        await Eventually.UntilAsync(async () =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            return (await host.GetRequiredAsync(run.RunId)).Status == PluginRunStatus.TimedOut;
        }, TimeSpan.FromSeconds(60), "the reaper to time the run out");
    }
}
