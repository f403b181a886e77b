using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.Time.Testing;

namespace FirstSip.Plugins.Tests.Dispatch;

[Collection(ServersCollectionDefinition.Name)]
public sealed class RunReaperTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private Task<TestHost> HostAsync(Db db, FakeTimeProvider time, TimeSpan startTimeout) =>
        TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            Store = o =>
            {
                o.StartTimeout = startTimeout;
                o.DeadlineGracePeriod = TimeSpan.FromSeconds(10);
            },
        });

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_RunPastItsDeadline_EndsTimedOut_SignalsCancel_AndIgnoresALateResult(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time, TimeSpan.FromMinutes(10));
        using var timedOutCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginRunsMetrics>().TimedOut);
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        var dispatched = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(90 + 10), dispatched.Deadline);

        time.Advance(TimeSpan.FromSeconds(99));
        Assert.Equal((0, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        Assert.Equal(PluginRunStatus.Running, (await host.GetRequiredAsync(run.RunId)).Status);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal((1, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));

        var timedOut = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.TimedOut, timedOut.Status);
        Assert.Contains("timed out", timedOut.Error);
        Assert.Contains("90 s", timedOut.Error);
        Assert.Equal(time.GetUtcNow(), timedOut.CompletedAt);
        Assert.Equal(1, timedOutCount.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.RunTimedOutId && r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        var cancelKey = $"{host.Prefix}run:{run.RunId:D}:cancel";
        Assert.Equal(timedOut.Error, (string?)await host.Redis.Connection.GetDatabase().StringGetAsync(cancelKey));

        var late = await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = "{}" });
        Assert.Equal(ResultOutcome.Duplicate, late);
        Assert.Equal(PluginRunStatus.TimedOut, (await host.GetRequiredAsync(run.RunId)).Status);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_RunNeverStarted_IsDispatchedAgain_ThenFailsAfterItsLastAttempt(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time, TimeSpan.FromSeconds(30));
        var run = await host.StartRunAsync(maxAttempts: 2);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        Assert.Equal(1, Assert.Single(await host.ReadRequestsAsync(1)).Request.Attempt);

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal((0, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal((0, 1), await host.Reaper.ReapOnceAsync(CancellationToken.None));

        var again = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Pending, again.Status);
        Assert.Equal(2, again.Attempt);
        Assert.Contains("not started within", again.Error);
        Assert.Equal(1, (await host.Dispatcher.DispatchOnceAsync(CancellationToken.None)).Published);
        Assert.Equal(2, Assert.Single(await host.ReadRequestsAsync(1)).Request.Attempt);

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal((0, 1), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        var failed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Failed, failed.Status);
        Assert.Contains("no worker started the run", failed.Error);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Reaper_StartedRun_IsNotDispatchedAgain(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(db, time, TimeSpan.FromSeconds(30));
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Heartbeat });

        time.Advance(TimeSpan.FromSeconds(60));

        Assert.Equal((0, 0), await host.Reaper.ReapOnceAsync(CancellationToken.None));
        Assert.Equal(PluginRunStatus.Running, (await host.GetRequiredAsync(run.RunId)).Status);
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
                o.StartTimeout = TimeSpan.FromMinutes(10);
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
