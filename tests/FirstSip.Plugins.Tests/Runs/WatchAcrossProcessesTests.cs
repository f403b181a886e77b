using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Runs;

/// <summary>
/// Watching a run from one application process while another makes its transitions and consumes its events, as two
/// replicas behind a load balancer do (two hosts on one database and one Redis, each with its own run update hub).
/// </summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class WatchAcrossProcessesTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Fact]
    public void AProcessesOwnMessages_AreRecognisedByHowTheyBegin()
    {
        var update = new PluginRunUpdate { RunId = Guid.NewGuid(), Kind = PluginRunUpdateKind.Status, Status = PluginRunStatus.Running, Step = "\"origin\":" };
        var mine = System.Text.Encoding.UTF8.GetBytes(RunUpdateRelay.Serialize([update], "abc123"));
        var other = System.Text.Encoding.UTF8.GetBytes(RunUpdateRelay.Serialize([update, update], "abc1234"));

        Assert.True(mine.AsSpan().StartsWith(RunUpdateRelay.StartOf("abc123")));
        Assert.False(other.AsSpan().StartsWith(RunUpdateRelay.StartOf("abc123")));
    }

    [Fact]
    public async Task UpdatesMadeTogether_GoOutTogether_InTheOrderTheyWereMade()
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Start = false });
        var relay = host.Services.GetRequiredService<RunUpdateRelay>();
        var channel = RedisChannel.Literal(host.Services.GetRequiredService<IOptions<PluginStreamsOptions>>().Value.KeyPrefix + "run-updates");
        var messages = 0;
        var received = new List<long>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscriber = host.Services.GetRequiredService<IConnectionMultiplexer>().GetSubscriber();
        var queue = await subscriber.SubscribeAsync(channel);
        queue.OnMessage(message =>
        {
            var relayed = JsonSerializer.Deserialize<JsonElement>((string)message.Message!);
            messages++;
            received.AddRange(relayed.GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("version").GetInt64()));
            if (received.Count == 1000)
            {
                all.TrySetResult();
            }
        });

        var runId = Guid.NewGuid();
        for (var version = 1; version <= 1000; version++)
        {
            relay.Send(new PluginRunUpdate { RunId = runId, Kind = PluginRunUpdateKind.Status, Status = PluginRunStatus.Running, Version = version });
        }

        await all.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await queue.UnsubscribeAsync();
        Assert.Equal(Enumerable.Range(1, 1000).Select(v => (long)v), received);
        Assert.InRange(messages, 1000 / RunUpdateRelay.MaxUpdatesPerMessage, 999);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WatchAsync_EveryTransitionAndStepMadeByAnotherProcess_ArrivesOnceInOrder(Db db)
    {
        await using var worker = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        // The watching process re-reads the row only every ten minutes: what it sees comes through the relay.
        await using var watcher = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            SameStoreAs = worker,
            Store = o => o.WatchPollInterval = TimeSpan.FromMinutes(10),
        });
        var run = await worker.StartRunAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var seen = new List<PluginRunUpdate>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = watcher.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, timeout.Token))
            {
                lock (seen)
                {
                    seen.Add(update);
                }

                first.TrySetResult();
            }

            return true;
        });
        await first.Task.WaitAsync(timeout.Token);

        await worker.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await worker.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        await worker.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "research_task", Attempt = 1 });
        await worker.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "writing_task", Attempt = 1 });
        await worker.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"s","sections":[]}""" });
        await watch.WaitAsync(timeout.Token);

        List<PluginRunUpdate> updates;
        lock (seen)
        {
            updates = [.. seen];
        }

        var statuses = updates.Where(u => u.Kind == PluginRunUpdateKind.Status).Select(u => u.Status).Distinct().ToList();
        Assert.Equal([PluginRunStatus.Pending, PluginRunStatus.Dispatched, PluginRunStatus.Running, PluginRunStatus.Completed], statuses);
        var progress = updates.Where(u => u.Kind == PluginRunUpdateKind.Progress && u.ProgressKind != "heartbeat").Select(u => u.Step ?? u.ProgressKind).ToList();
        Assert.Equal(["started", "research_task", "writing_task"], progress);
        Assert.True(updates[^1].IsTerminal);
        Assert.All(updates.Zip(updates.Skip(1)), pair => Assert.True(pair.First.At <= pair.Second.At, $"{pair.First} then {pair.Second}"));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WatchAsync_LateCopyOfAnEarlierState_IsNotReported(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var dispatched = await host.GetRequiredAsync(run.RunId);
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1 });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var seen = new List<PluginRunUpdate>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = host.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, timeout.Token))
            {
                lock (seen)
                {
                    seen.Add(update);
                }

                first.TrySetResult();
            }

            return true;
        });
        await first.Task.WaitAsync(timeout.Token);

        // Another process's update of the dispatch arrives after the run started: it is older, by the row's version.
        host.Services.GetRequiredService<RunUpdateHub>().PublishStatus(dispatched, DateTimeOffset.UtcNow);
        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"s","sections":[]}""" });
        await watch.WaitAsync(timeout.Token);

        lock (seen)
        {
            Assert.Equal(
                [PluginRunStatus.Running, PluginRunStatus.Completed],
                seen.Where(u => u.Kind == PluginRunUpdateKind.Status).Select(u => u.Status));
        }
    }

    [Fact]
    public void IsNewer_ComparesVersionsFirst_AndStepsAtTheSameVersion()
    {
        var running = new PluginRunUpdate { RunId = Guid.Empty, Kind = PluginRunUpdateKind.Status, Status = PluginRunStatus.Running, Version = 3 };

        Assert.False(PluginRunner.IsNewer(running with { Status = PluginRunStatus.Dispatched, Version = 2 }, running));
        Assert.True(PluginRunner.IsNewer(running with { Status = PluginRunStatus.Completed, Version = 4 }, running));
        Assert.True(PluginRunner.IsNewer(running with { LastStep = "research_task" }, running));
        Assert.False(PluginRunner.IsNewer(running, running));
        Assert.True(PluginRunner.IsNewer(running with { Status = PluginRunStatus.Failed }, running));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WaitAsync_WithATimeout_ThrowsWithTheRunsLastState_WhenNothingDispatches(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync();

        var error = await Assert.ThrowsAsync<PluginRunWaitTimeoutException>(
            () => host.WithRunnerAsync(r => r.WaitAsync(run.RunId, TimeSpan.FromMilliseconds(300))));

        Assert.Equal(run.RunId, error.Run.RunId);
        Assert.Equal(PluginRunStatus.Pending, error.Run.Status);
        Assert.Contains("still pending", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<TimeoutException>(error);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task WatchAsync_RunPendingInAProcessWhoseHostWasNotStarted_WarnsOnceNamingWhatToStart(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Store = o =>
            {
                o.PendingWarningAfter = TimeSpan.Zero;
                o.WatchPollInterval = TimeSpan.FromMilliseconds(20);
            },
        });
        var run = await host.StartRunAsync();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var watch = host.WithRunnerAsync(async runner =>
        {
            await foreach (var update in runner.WatchAsync(run.RunId, stop.Token))
            {
            }

            return true;
        });

        while (!host.Logs.GetSnapshot().Any(r => r.Id.Id == Log.RunPendingWithoutDispatcherId) && !stop.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        // Many more polls of the still pending run: the warning is not repeated.
        await Task.Delay(500);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watch);

        var warning = Assert.Single(host.Logs.GetSnapshot(), r => r.Id.Id == Log.RunPendingWithoutDispatcherId);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains(run.RunId.ToString(), warning.Message, StringComparison.Ordinal);
        Assert.Contains("start the host", warning.Message, StringComparison.Ordinal);
    }
}
