using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Operations;

[Collection(ServersCollectionDefinition.Name)]
public sealed class PluginOperationsTests(ServersFixture servers) : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static Task<T> WithOperationsAsync<T>(TestHost host, Func<IPluginOperations, Task<T>> action) =>
        host.InScopeAsync(sp => action(sp.GetRequiredService<IPluginOperations>()));

    private static async Task<PluginRun> WaitEndedAsync(TestHost host, Guid runId)
    {
        using var cts = new CancellationTokenSource(Wait);
        return await host.WithRunnerAsync(r => r.WaitAsync(runId, cts.Token));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task RetryAsync_FailedRun_CompletesAsAttemptTwoWithTheSameRunId(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db });
        var run = await host.StartRunAsync();
        var first = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Equal(1, first.Request.Attempt);
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "boom", Attempt = 1 });
        Assert.Equal(PluginRunStatus.Failed, (await WaitEndedAsync(host, run.RunId)).Status);

        // What a worker leaves behind for a finished attempt, and the app's stop signal of an ended run.
        var redis = host.Redis.Database;
        await redis.StringSetAsync($"{host.Prefix}run:{run.RunId:D}:done", "final:1");
        await redis.StringSetAsync($"{host.Prefix}run:{run.RunId:D}:cancel", "failed");

        var notAllowed = await WithOperationsAsync(host, o => o.RetryAsync(Guid.NewGuid()));
        Assert.Equal(PluginRunActionOutcome.NotFound, notAllowed.Outcome);
        var retried = await WithOperationsAsync(host, o => o.RetryAsync(run.RunId));

        Assert.Equal(PluginRunActionOutcome.Done, retried.Outcome);
        Assert.Equal((PluginRunStatus.Pending, 2), (retried.Run!.Status, retried.Run.Attempt));
        Assert.Equal("retry:1", (string?)await redis.StringGetAsync($"{host.Prefix}run:{run.RunId:D}:done"));
        Assert.False(await redis.KeyExistsAsync($"{host.Prefix}run:{run.RunId:D}:cancel"));
        var second = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Equal((run.RunId, 2), (second.Request.PluginRunId, second.Request.Attempt));
        Assert.NotEqual(first.Id, second.Id);

        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 2, At = DateTimeOffset.UtcNow });
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"s","sections":[]}""", Attempt = 2 });
        var done = await WaitEndedAsync(host, run.RunId);
        Assert.Equal((PluginRunStatus.Completed, 2, run.RunId), (done.Status, done.Attempt, done.RunId));

        var again = await WithOperationsAsync(host, o => o.RetryAsync(run.RunId));
        Assert.Equal(PluginRunActionOutcome.NotAllowed, again.Outcome);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ReplayDeadLetterAsync_DeadLetteredRequest_RunsItAgain(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db });
        var run = await host.StartRunAsync();
        var (entryId, _, fields) = Assert.Single(await host.ReadRequestsAsync(1));

        // A worker gives up on the entry as the sidecar does: a copy on <stream>:dead, the ack, the done marker, a failed result.
        var redis = host.Redis.Database;
        var dead = host.RequestsStream + ":dead";
        var reason = "delivered 6 times, more than the maximum 5";
        var letterId = (string)(await redis.StreamAddAsync(dead, [
            .. fields.Where(f => f.Name != "secrets"),
            new NameValueEntry("dead_reason", reason),
            new NameValueEntry("dead_original_id", entryId),
            new NameValueEntry("dead_group", "crewai-workers"),
            new NameValueEntry("dead_consumer", "test-worker"),
            new NameValueEntry("dead_at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        ]))!;
        await redis.StreamAcknowledgeAsync(host.RequestsStream, "crewai-workers", entryId);
        await redis.StringSetAsync($"{host.Prefix}run:{run.RunId:D}:done", "final:1");
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = reason, Attempt = 1 });
        Assert.Equal(PluginRunStatus.Failed, (await WaitEndedAsync(host, run.RunId)).Status);

        var letters = await host.InScopeAsync(sp => sp.GetRequiredService<IStreamOperations>().ListDeadLettersAsync(host.RequestsStream));
        Assert.Equal(run.RunId, Assert.Single(letters).RunId);

        var replayed = await WithOperationsAsync(host, o => o.ReplayDeadLetterAsync(host.RequestsStream, letterId));

        Assert.Equal(DeadLetterReplayOutcome.RunRetried, replayed.Outcome);
        Assert.Equal(0, await redis.StreamLengthAsync(dead));
        var again = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Equal((run.RunId, 2), (again.Request.PluginRunId, again.Request.Attempt));
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = "{}", Attempt = 2 });
        Assert.Equal(PluginRunStatus.Completed, (await WaitEndedAsync(host, run.RunId)).Status);

        // A letter no run is known for goes back on its stream as it was.
        var orphan = (string)(await redis.StreamAddAsync(host.ResultsStream + ":dead", [new NameValueEntry("payload", "not json"), new NameValueEntry("dead_reason", "payload is not JSON")]))!;
        var raw = await WithOperationsAsync(host, o => o.ReplayDeadLetterAsync(host.ResultsStream, orphan));
        Assert.Equal(DeadLetterReplayOutcome.Replayed, raw.Outcome);
        Assert.Equal(DeadLetterReplayOutcome.NotFound, (await WithOperationsAsync(host, o => o.ReplayDeadLetterAsync(host.ResultsStream, orphan))).Outcome);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task GetTimelineAsync_ListsTransitionsAndProgressOfEveryAttemptInOrder(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var run = await host.StartRunAsync(maxAttempts: 2);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var t0 = DateTimeOffset.UtcNow;
        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1, Worker = "w1", At = t0 });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 1, Worker = "w1", At = t0 });
        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Step, Step = "research_task", Message = "<script>alert(1)</script>", Attempt = 1, Worker = "w1", At = DateTimeOffset.UtcNow });
        var firstEnd = new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "rate limited", Retryable = true, Attempt = 1, Worker = "w1" };
        await host.PublishResultAsync(firstEnd);
        await host.ApplyAsync(firstEnd);
        await host.UpdateRunAsync(run.RunId, r => r.NextAttemptAt = null);
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var t1 = DateTimeOffset.UtcNow;
        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 2, Worker = "w2", At = t1 });
        await host.HandleEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, Attempt = 2, Worker = "w2", At = t1 });
        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Failed, Error = "bad output", Attempt = 2 });
        await host.PublishEventAsync(new PluginEvent { PluginRunId = Guid.NewGuid(), Kind = PluginEventKind.Started, Attempt = 1, At = t1 });

        var timeline = await WithOperationsAsync(host, o => o.GetTimelineAsync(run.RunId));

        Assert.NotNull(timeline);
        Assert.Equal(
            [PluginRunTimelineKind.Created, PluginRunTimelineKind.Started, PluginRunTimelineKind.Step, PluginRunTimelineKind.Ended, PluginRunTimelineKind.Dispatched, PluginRunTimelineKind.Started, PluginRunTimelineKind.Ended],
            timeline.Entries.Select(e => e.Kind));
        Assert.Equal([1, 1, 1, 1, 2, 2, 2], timeline.Entries.Select(e => e.Attempt ?? 0));
        Assert.Equal((PluginRunStatus.Failed, "rate limited"), (timeline.Entries[3].Status, timeline.Entries[3].Message));
        var step = timeline.Entries[2];
        Assert.Equal(("research_task", "<script>alert(1)</script>", "w1"), (step.Step, step.Message, step.Worker));
        var ended = timeline.Entries[^1];
        Assert.Equal((PluginRunStatus.Failed, "bad output"), (ended.Status, ended.Message));
        Assert.True(timeline.Entries.Skip(1).All(e => e.SincePrevious >= TimeSpan.Zero));
        Assert.NotNull(timeline.ExecutionTime);
        Assert.True(timeline.TotalTime >= timeline.ExecutionTime);
        Assert.Null(await WithOperationsAsync(host, o => o.GetTimelineAsync(Guid.NewGuid())));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task SearchFailuresActivityCloneAndRetention(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        var a = await host.StartRunAsync(user: "alice");
        var b = await host.StartRunAsync(user: "bob");
        var c = await host.StartRunAsync(user: "carol");
        var d = await host.StartRunAsync(user: "dave");
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        await host.ApplyAsync(new PluginResult { PluginRunId = a.RunId, Status = PluginResultStatus.Failed, Error = "HTTP 429 from api.example.com after 3 tries\nTraceback ..." });
        await host.ApplyAsync(new PluginResult { PluginRunId = b.RunId, Status = PluginResultStatus.Failed, Error = "HTTP 429 from api.example.com after 12 tries" });
        await host.ApplyAsync(new PluginResult { PluginRunId = c.RunId, Status = PluginResultStatus.Failed, Error = "timed out after 30 s", FailureKind = PluginFailureKind.TimedOut });
        await host.ApplyAsync(new PluginResult { PluginRunId = d.RunId, Status = PluginResultStatus.Completed, Output = "{}" });

        var byError = await WithOperationsAsync(host, o => o.SearchRunsAsync(new PluginRunSearch { Text = "API.EXAMPLE" }));
        Assert.Equal([b.RunId, a.RunId], byError.Items.Select(r => r.RunId));
        var byUser = await WithOperationsAsync(host, o => o.SearchRunsAsync(new PluginRunSearch { Text = "car" }));
        Assert.Equal(c.RunId, Assert.Single(byUser.Items).RunId);
        var byId = await WithOperationsAsync(host, o => o.SearchRunsAsync(new PluginRunSearch { Text = d.RunId.ToString() }));
        Assert.Equal(d.RunId, Assert.Single(byId.Items).RunId);
        var filtered = await WithOperationsAsync(host, o => o.SearchRunsAsync(new PluginRunSearch { Text = "echo", Statuses = [PluginRunStatus.Completed] }));
        Assert.Equal(d.RunId, Assert.Single(filtered.Items).RunId);

        var reasons = await WithOperationsAsync(host, o => o.GetFailureBreakdownAsync(DateTimeOffset.UtcNow.AddHours(-1)));
        Assert.Equal(2, reasons.Count);
        Assert.Equal(("HTTP # from api.example.com after # tries", 2, 0), (reasons[0].Reason, reasons[0].Count, reasons[0].TimedOut));
        Assert.Equal(["echo"], reasons[0].Plugins);
        Assert.Equal(("timed out after # s", 1, 1), (reasons[1].Reason, reasons[1].Count, reasons[1].TimedOut));

        var activity = await WithOperationsAsync(host, o => o.GetActivityAsync(DateTimeOffset.UtcNow.AddHours(-1), TimeSpan.FromMinutes(1)));
        Assert.InRange(activity.Count, 60, 61);
        Assert.Equal((1, 2, 1, 0), (activity.Sum(x => x.Completed), activity.Sum(x => x.Failed), activity.Sum(x => x.TimedOut), activity.Sum(x => x.Cancelled)));

        var clone = await WithOperationsAsync(host, o => o.CloneAsync(a.RunId));
        Assert.NotNull(clone);
        Assert.NotEqual(a.RunId, clone.RunId);
        Assert.Equal((a.PluginName, a.UserId, a.Settings, PluginRunStatus.Pending, 1), (clone.PluginName, clone.UserId, clone.Settings, clone.Status, clone.Attempt));

        var cancelled = await WithOperationsAsync(host, o => o.CancelAsync(clone.RunId));
        Assert.Equal(PluginRunActionOutcome.Done, cancelled.Outcome);
        Assert.Equal(PluginRunActionOutcome.NotAllowed, (await WithOperationsAsync(host, o => o.CancelAsync(clone.RunId))).Outcome);

        // A run that still owes the workers its stop signal is kept until it is sent. The others go.
        await host.UpdateRunAsync(clone.RunId, r => r.StopSignalPending = true);
        var deleted = await WithOperationsAsync(host, o => o.DeleteTerminalRunsAsync(DateTimeOffset.UtcNow.AddSeconds(1), batchSize: 3));
        Assert.Equal(3, deleted);
        deleted += await WithOperationsAsync(host, o => o.DeleteTerminalRunsAsync(DateTimeOffset.UtcNow.AddSeconds(1)));
        Assert.Equal(4, deleted);
        var left = await WithOperationsAsync(host, o => o.SearchRunsAsync(new PluginRunSearch()));
        Assert.Equal(clone.RunId, Assert.Single(left.Items).RunId);
    }

    [Fact]
    public async Task RetentionJob_DeletesTerminalRunsOlderThanTheRetention()
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = Db.Sqlite,
            Services = s => s.Configure<PluginOperationsOptions>(o =>
            {
                o.TerminalRunRetention = TimeSpan.FromSeconds(2);
                o.RetentionInterval = TimeSpan.FromMilliseconds(100);
            }),
        });
        var old = await host.StartRunAsync();
        Assert.Single(await host.ReadRequestsAsync(1));
        await host.PublishResultAsync(new PluginResult { PluginRunId = old.RunId, Status = PluginResultStatus.Completed, Output = "{}", Attempt = 1 });
        Assert.Equal(PluginRunStatus.Completed, (await WaitEndedAsync(host, old.RunId)).Status);
        var waiting = await host.StartRunAsync();

        await Eventually.UntilAsync(async () => await host.GetAsync(old.RunId) is null, Wait, "the old run to be deleted");
        Assert.NotNull(await host.GetAsync(waiting.RunId));
    }
}
