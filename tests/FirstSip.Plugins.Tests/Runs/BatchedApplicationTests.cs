using System.Threading.Channels;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Runs;

/// <summary>
/// Results and progress events are applied in shared batches, one transaction each: every run still moves by its own
/// conditional update, completion handlers run in the batch's transaction, and a result that fails is isolated from the
/// rest of its batch.
/// </summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class BatchedApplicationTests(ServersFixture servers) : IDisposable
{
    private const string Briefing = """{"summary":"Markets rose.","sections":[]}""";

    // The test completion handler reads "summary": a completed output without it makes the handler throw, for that run alone.
    private const string OutputTheHandlerRejects = """{"sections":[]}""";

    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static TestHostOptions Options(Db db, bool start) => new()
    {
        Db = db,
        HostContext = true,
        Start = start,
        Builder = b => b.AddCompletionHandler<BriefingCompletionHandler>(),
        Services = s => s.AddSingleton(new BriefingCompletionHandler.Switch()),
    };

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ABatch_IsOneTransaction_AFailingHandlerRollsBackTheWholeBatch_EventsIncluded(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, Options(db, start: false));
        var runs = new List<PluginRun>();
        for (var i = 0; i < 5; i++)
        {
            var run = await host.StartRunAsync();
            await host.UpdateRunAsync(run.RunId, r => r.Status = PluginRunStatus.Dispatched);
            runs.Add(await host.GetRequiredAsync(run.RunId));
        }

        // Each run's started event and its result, in one batch: the results first, as the two readers may hand them over.
        var reports = runs.Select((r, i) => Result(r.RunId, i == 3 ? OutputTheHandlerRejects : Briefing)).ToList();
        reports.AddRange(runs.Select(r => Started(r.RunId)));
        var batcher = host.Services.GetRequiredService<WorkerReportBatcher>();

        await Assert.ThrowsAnyAsync<Exception>(() => host.InScopeAsync(async sp =>
        {
            await batcher.ApplyTogetherAsync(sp, reports, CancellationToken.None);
            return true;
        }));

        foreach (var run in runs)
        {
            var stored = await host.GetRequiredAsync(run.RunId);
            Assert.Equal(PluginRunStatus.Dispatched, stored.Status);
            Assert.Null(stored.StartedAt);
        }

        Assert.Equal(0, await CountBriefingsAsync(host));

        // Without the rejected result, the batch commits as a whole: every run started by its event and then completed,
        // each transition its own version, every handler's write kept.
        reports.RemoveAt(3);
        await host.InScopeAsync(async sp =>
        {
            await batcher.ApplyTogetherAsync(sp, reports, CancellationToken.None);
            return true;
        });
        foreach (var run in runs.Where((_, i) => i != 3))
        {
            var applied = await host.GetRequiredAsync(run.RunId);
            Assert.Equal(PluginRunStatus.Completed, applied.Status);
            Assert.NotNull(applied.StartedAt);
            Assert.Equal(run.Version + 2, applied.Version); // running, then completed
        }

        // The rejected run's started event was in the batch too: it is running, its result not applied.
        Assert.Equal(PluginRunStatus.Running, (await host.GetRequiredAsync(runs[3].RunId)).Status);
        Assert.Equal(4, await CountBriefingsAsync(host));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AStartedEventAndItsResultInOneBatch_AreOneUpdate_AndWatchersSeeTheWholeTimeline(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, Options(db, start: false));
        var run = await host.StartRunAsync();
        await host.UpdateRunAsync(run.RunId, r =>
        {
            r.Status = PluginRunStatus.Dispatched;
            r.DispatchedAt = DateTimeOffset.UtcNow;
        });
        var dispatched = await host.GetRequiredAsync(run.RunId);
        var hub = host.Services.GetRequiredService<RunUpdateHub>();
        using var subscription = await hub.SubscribeAsync(run.RunId, CancellationToken.None);
        using var updates = CountUpdates(host);

        await ApplyTogetherAsync(host, Started(run.RunId), Result(run.RunId, Briefing));

        Assert.Equal(1, updates.Count);
        var completed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal((PluginRunStatus.Completed, dispatched.Version + 2), (completed.Status, completed.Version));
        Assert.InRange(completed.StartedAt!.Value, dispatched.DispatchedAt!.Value, completed.CompletedAt!.Value);

        var seen = Drain(subscription.Reader);

        Assert.Contains(seen, u => u is { Kind: PluginRunUpdateKind.Progress, ProgressKind: "started", Status: PluginRunStatus.Running } && u.Version == dispatched.Version + 1);
        Assert.Contains(seen, u => u is { Kind: PluginRunUpdateKind.Status, Status: PluginRunStatus.Running } && u.Version == dispatched.Version + 1);
        Assert.Contains(seen, u => u is { Kind: PluginRunUpdateKind.Status, Status: PluginRunStatus.Completed } && u.Version == dispatched.Version + 2);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AResultThatCarriesItsStart_MovesTheRunThroughRunningAtThatTime_InOneUpdate(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, Options(db, start: false));
        var run = await host.StartRunAsync();
        var dispatchedAt = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddSeconds(-2).ToUnixTimeMilliseconds());
        await host.UpdateRunAsync(run.RunId, r =>
        {
            r.Status = PluginRunStatus.Dispatched;
            r.DispatchedAt = dispatchedAt;
        });
        var dispatched = await host.GetRequiredAsync(run.RunId);
        var hub = host.Services.GetRequiredService<RunUpdateHub>();
        using var subscription = await hub.SubscribeAsync(run.RunId, CancellationToken.None);
        using var updates = CountUpdates(host);

        var startedAt = dispatchedAt.AddMilliseconds(1500);
        await ApplyTogetherAsync(host, Result(run.RunId, Briefing, startedAt));

        Assert.Equal(1, updates.Count);
        var completed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal((PluginRunStatus.Completed, dispatched.Version + 2, startedAt), (completed.Status, completed.Version, completed.StartedAt));
        var seen = Drain(subscription.Reader);

        Assert.Contains(seen, u => u is { Kind: PluginRunUpdateKind.Status, Status: PluginRunStatus.Running } && u.Version == dispatched.Version + 1);
        Assert.Contains(seen, u => u is { Kind: PluginRunUpdateKind.Status, Status: PluginRunStatus.Completed } && u.Version == dispatched.Version + 2);
    }

    private static WorkerReport Result(Guid runId, string output, DateTimeOffset? startedAt = null) => WorkerReport.Of(
        new StreamMessage<PluginResult>
        {
            Id = "1-1",
            StreamName = "plugin:results",
            Message = new PluginResult
            {
                PluginRunId = runId, Status = PluginResultStatus.Completed, Output = output, Attempt = 1, StartedAt = startedAt,
                DurationMs = startedAt is null ? null : 5,
            },
        },
        default);

    /// <summary>Counts the UPDATE statements run on the host's database.</summary>
    private static EfEventCounter CountUpdates(TestHost host) => new(
        host.ConnectionString,
        RelationalEventId.CommandExecuted,
        where: static d => ((CommandExecutedEventData)d).Command.CommandText.TrimStart().StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase));

    private static async Task ApplyTogetherAsync(TestHost host, params WorkerReport[] reports) => await host.InScopeAsync(async sp =>
    {
        await host.Services.GetRequiredService<WorkerReportBatcher>().ApplyTogetherAsync(sp, reports, CancellationToken.None);
        return true;
    });

    private static List<PluginRunUpdate> Drain(ChannelReader<PluginRunUpdate> reader)
    {
        var seen = new List<PluginRunUpdate>();
        while (reader.TryRead(out var update))
        {
            seen.Add(update);
        }

        return seen;
    }

    private static WorkerReport Started(Guid runId) => WorkerReport.Of(new StreamMessage<PluginEvent>
    {
        Id = "1-2",
        StreamName = "plugin:events",
        Message = new PluginEvent { PluginRunId = runId, Kind = PluginEventKind.Started, Attempt = 1 },
    });

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ResultsPublishedTogether_AreApplied_AndTheFailingOneStaysPendingAlone(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, Options(db, start: true));
        var runs = new List<PluginRun>();
        for (var i = 0; i < 30; i++)
        {
            runs.Add(await host.StartRunAsync());
        }

        await Eventually.UntilAsync(async () => (await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { Take = 100 })))
                .Items.All(r => r.Status == PluginRunStatus.Dispatched),
            TimeSpan.FromSeconds(30), "all runs dispatched");

        var rejected = runs[17].RunId;
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
        await publisher.PublishManyAsync([.. runs.Select(r => new PluginResult
        {
            PluginRunId = r.RunId,
            Status = PluginResultStatus.Completed,
            Output = r.RunId == rejected ? OutputTheHandlerRejects : Briefing,
            Attempt = 1,
        })]);

        foreach (var run in runs.Where(r => r.RunId != rejected))
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            Assert.Equal(PluginRunStatus.Completed, (await host.WithRunnerAsync(r => r.WaitAsync(run.RunId, timeout.Token))).Status);
        }

        Assert.Equal(29, await CountBriefingsAsync(host));
        Assert.Equal(PluginRunStatus.Dispatched, (await host.GetRequiredAsync(rejected)).Status);

        // The reader left the rejected result pending (it comes back after the claim timeout); the others were acknowledged.
        var redis = host.Redis.Connection.GetDatabase();
        await Eventually.UntilAsync(async () => (await redis.StreamPendingAsync(host.ResultsStream, "app-workers")).PendingMessageCount == 1,
            TimeSpan.FromSeconds(30), "one result left pending");
        var pending = Assert.Single(await redis.StreamPendingMessagesAsync(host.ResultsStream, "app-workers", 10, RedisValue.Null));
        var entry = Assert.Single(await redis.StreamRangeAsync(host.ResultsStream, pending.MessageId, pending.MessageId));
        Assert.Contains(rejected.ToString("D"), entry.Values.Single(v => v.Name == "payload").Value.ToString(), StringComparison.Ordinal);
    }

    private static Task<int> CountBriefingsAsync(TestHost host) =>
        host.InScopeAsync(sp => sp.GetRequiredService<TestHostDbContext>().Briefings.CountAsync());
}
