using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace FirstSip.Plugins.Tests.Runs;

[Collection(ServersCollectionDefinition.Name)]
public sealed class RunEventAndWatchTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private Task<TestHost> HostAsync(Db db) =>
        TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Events_MoveTheRunToRunning_AndStoreTheLastStep(Db db)
    {
        await using var host = await HostAsync(db);
        using var queueWait = new MetricCollector<double>(host.Services.GetRequiredService<PluginRunsMetrics>().QueueWait);
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        var started = await host.GetRequiredAsync(run.RunId);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "research_task", Attempt = 1 });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Heartbeat, Attempt = 1 });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "old_attempt_task", Attempt = 0 });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = Guid.NewGuid(), Kind = PluginEventKind.Started });

        var after = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Running, started.Status);
        Assert.NotNull(started.StartedAt);
        Assert.Equal(PluginRunStatus.Running, after.Status);
        Assert.Equal("research_task", after.LastStep);
        Assert.Equal(started.StartedAt, after.StartedAt);
        Assert.Single(queueWait.GetMeasurementSnapshot());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WatchAsync_StreamsStatusChangesAndProgress_UntilTerminal(Db db)
    {
        await using var host = await HostAsync(db);
        var run = await host.StartRunAsync();
        var updates = new List<PluginRunUpdate>();
        var firstSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var watch = host.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, timeout.Token))
            {
                lock (updates)
                {
                    updates.Add(update);
                }

                firstSeen.TrySetResult();
            }

            return true;
        });
        await firstSeen.Task.WaitAsync(timeout.Token);

        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Message = "go" });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "research_task", Message = "done researching" });
        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"s","sections":[]}""" });
        await watch;

        List<PluginRunUpdate> seen;
        lock (updates)
        {
            seen = [.. updates];
        }

        var statuses = seen.Where(u => u.Kind == PluginRunUpdateKind.Status).Select(u => u.Status).ToList();
        Assert.Equal(PluginRunStatus.Pending, statuses[0]);
        Assert.Equal(PluginRunStatus.Completed, statuses[^1]);
        Assert.Contains(PluginRunStatus.Dispatched, statuses);
        Assert.Contains(PluginRunStatus.Running, statuses);
        Assert.Contains(seen, u => u.Kind == PluginRunUpdateKind.Progress && u.ProgressKind == "step" && u.Step == "research_task" && u.Message == "done researching");
        Assert.Contains(seen, u => u.Kind == PluginRunUpdateKind.Progress && u.ProgressKind == "started");
        Assert.True(seen[^1].IsTerminal);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WaitAsync_SeesAChangeMadeOutsideThisProcess(Db db)
    {
        await using var host = await HostAsync(db);
        var run = await host.StartRunAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var wait = host.WithRunnerAsync(r => r.WaitAsync(run.RunId, timeout.Token));

        // A direct row update notifies no watcher in this process, as a change by another instance would not.
        await host.UpdateRunAsync(run.RunId, r =>
        {
            r.Status = PluginRunStatus.Failed;
            r.Error = "failed elsewhere";
        });

        var finished = await wait;
        Assert.Equal(PluginRunStatus.Failed, finished.Status);
        Assert.Equal("failed elsewhere", finished.Error);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WaitAsync_UnknownRun_Throws(Db db)
    {
        await using var host = await HostAsync(db);

        await Assert.ThrowsAsync<KeyNotFoundException>(() => host.WithRunnerAsync(r => r.WaitAsync(Guid.NewGuid())));
    }
}
