using System.Text.Json;
using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Operations;

[Collection(RedisCollections.Name)]
public sealed class StreamOperationsTests(RedisServer redis)
{
    [Fact]
    public async Task GetStreamStateAsync_ReportsLengthLagPendingPerConsumerAndDeadLetters()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var operations = host.Services.GetRequiredService<IStreamOperations>();
        var db = redis.Database;
        await db.StreamCreateConsumerGroupAsync(streams.Requests, "workers", StreamPosition.Beginning, createStream: true);
        for (var i = 0; i < 5; i++)
        {
            await db.StreamAddAsync(streams.Requests, "n", i);
        }

        var read = await db.StreamReadGroupAsync(streams.Requests, "workers", "c1", StreamPosition.NewMessages, 3);
        await db.StreamAcknowledgeAsync(streams.Requests, "workers", read[0].Id);
        await db.StreamAddAsync(streams.Requests + ":dead", "dead_reason", "poison");

        var state = await operations.GetStreamStateAsync(streams.Requests);

        Assert.Equal(5, state.Length);
        Assert.Equal(1, state.DeadLetters);
        var group = Assert.Single(state.Groups);
        Assert.Equal("workers", group.GroupName);
        Assert.Equal(2, group.Lag);
        Assert.Equal(2, group.Pending);
        Assert.Equal(read[1].Id.ToString(), group.OldestPendingId);
        Assert.True(group.OldestPendingAge >= TimeSpan.Zero && group.OldestPendingAge < TimeSpan.FromMinutes(1));
        var consumer = Assert.Single(group.Consumers);
        Assert.Equal(("c1", 2L), (consumer.ConsumerName, consumer.Pending));

        var missing = await operations.GetStreamStateAsync(streams.Prefix + "nothing");
        Assert.Equal((0L, 0), (missing.Length, missing.Groups.Count));

        var all = await operations.GetPluginStreamsAsync();
        Assert.Equal([streams.Requests, streams.Results, streams.Events], all.Select(s => s.StreamName));
    }

    [Fact]
    public async Task ListWorkersAsync_ListsRegistryKeys_UntilTheyExpire()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var operations = host.Services.GetRequiredService<IStreamOperations>();
        var db = redis.Database;
        var runId = Guid.NewGuid().ToString();
        var entry = new
        {
            consumer = "host-1-abc",
            host = "host",
            pid = 1234,
            version = "1.0.0",
            stream = streams.Requests,
            group = "crewai-workers",
            plugins = new[] { "echo", "daily-news-digest" },
            slots = 4,
            in_flight = new[] { new { run_id = runId, plugin = "echo", attempt = 2, started_at = 1_700_000_000_000L } },
            started_at = 1_700_000_000_000L,
            seen_at = 1_700_000_001_000L,
            future_field = "ignored",
        };
        await db.StringSetAsync(streams.Prefix + "worker:host-1-abc", JsonSerializer.Serialize(entry), TimeSpan.FromMilliseconds(700));
        await db.StringSetAsync(streams.Prefix + "worker:broken", "not json", TimeSpan.FromSeconds(30));
        await db.StringSetAsync(RedisServer.NewPrefix() + "worker:other-app", "{}", TimeSpan.FromSeconds(30));

        var worker = Assert.Single(await operations.ListWorkersAsync());

        Assert.Equal(("host-1-abc", "host", 1234L, "1.0.0", 4), (worker.ConsumerName, worker.Host, worker.ProcessId, worker.Version, worker.Slots));
        Assert.Equal(["echo", "daily-news-digest"], worker.Plugins);
        var run = Assert.Single(worker.InFlight);
        Assert.Equal((runId, "echo", (int?)2), (run.RunId, run.PluginName, run.Attempt));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000L), worker.StartedAt);

        await Eventually.WaitAsync(async () => (await operations.ListWorkersAsync()).Count == 0, "the worker's key to expire", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RemoveStaleConsumersAsync_RemovesOnlyIdleConsumersThatHoldNothingAndAreNotLive()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var operations = host.Services.GetRequiredService<IStreamOperations>();
        var db = redis.Database;
        var stream = streams.Requests;
        await db.StreamCreateConsumerGroupAsync(stream, "workers", StreamPosition.Beginning, createStream: true);
        await db.StreamAddAsync(stream, "n", 1);
        await db.StreamReadGroupAsync(stream, "workers", "busy", StreamPosition.NewMessages, 1);
        await db.ExecuteAsync("XGROUP", "CREATECONSUMER", stream, "workers", "dead");
        await db.ExecuteAsync("XGROUP", "CREATECONSUMER", stream, "workers", "live");
        await db.StringSetAsync(streams.Prefix + "worker:live", "{}", TimeSpan.FromSeconds(30));
        await Task.Delay(400);
        await db.ExecuteAsync("XGROUP", "CREATECONSUMER", stream, "workers", "fresh");

        var removed = await operations.RemoveStaleConsumersAsync(stream, "workers", TimeSpan.FromMilliseconds(300));

        Assert.Equal(["dead"], removed);
        var left = await db.StreamConsumerInfoAsync(stream, "workers");
        Assert.Equal(["busy", "fresh", "live"], left.Select(c => c.Name.ToString()).Order(StringComparer.Ordinal));
        Assert.Empty(await operations.RemoveStaleConsumersAsync(streams.Prefix + "none", "workers", TimeSpan.Zero));
    }

    [Fact]
    public async Task Sweeper_RemovesAStaleConsumerOnceItHoldsNothing()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddPluginStreams().ConfigureOperations(o =>
        {
            o.ConsumerSweepInterval = TimeSpan.FromMilliseconds(100);
            o.ConsumerIdleTime = TimeSpan.FromMilliseconds(300);
        });
        using var host = builder.Build();
        var db = redis.Database;
        var stream = streams.Requests;
        await db.StreamCreateConsumerGroupAsync(stream, "crewai-workers", StreamPosition.Beginning, createStream: true);
        var id = await db.StreamAddAsync(stream, "n", 1);
        await db.StreamReadGroupAsync(stream, "crewai-workers", "killed", StreamPosition.NewMessages, 1);
        await host.StartAsync();

        // It holds an entry: kept, however long it is idle.
        await Task.Delay(800);
        Assert.Single(await db.StreamConsumerInfoAsync(stream, "crewai-workers"));

        // Another worker finishes its entry; then it holds nothing and goes.
        await db.StreamClaimAsync(stream, "crewai-workers", "other", 0, [id]);
        await db.StreamAcknowledgeAsync(stream, "crewai-workers", id);
        await Eventually.WaitAsync(
            async () => (await db.StreamConsumerInfoAsync(stream, "crewai-workers")).All(c => c.Name != "killed"),
            "the stale consumer to be removed",
            TimeSpan.FromSeconds(10));
        await host.StopAsync();
    }

    [Fact]
    public async Task DeadLetters_ListShowReplayDeleteAndPurge()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var operations = host.Services.GetRequiredService<IStreamOperations>();
        var db = redis.Database;
        var dead = streams.Requests + ":dead";
        var runId = Guid.NewGuid();
        var payload = "{\"plugin_run_id\":\"" + runId + "\",\"plugin_name\":\"echo\",\"user_id\":7,\"settings\":{}}";
        var first = await db.StreamAddAsync(dead, [
            new NameValueEntry("payload", payload),
            new NameValueEntry("schema_version", "v1"),
            new NameValueEntry("dead_reason", "<img src=x onerror=alert(1)>"),
            new NameValueEntry("dead_original_id", "1-0"),
            new NameValueEntry("dead_group", "crewai-workers"),
            new NameValueEntry("dead_consumer", "w1"),
            new NameValueEntry("dead_at", "1700000000000"),
        ]);
        var second = await db.StreamAddAsync(dead, [new NameValueEntry("payload", "not json"), new NameValueEntry("dead_reason", "payload is not JSON")]);
        var third = await db.StreamAddAsync(dead, [new NameValueEntry("payload", "{}"), new NameValueEntry("dead_reason", "missing plugin_run_id")]);

        var listed = await operations.ListDeadLettersAsync(streams.Requests);
        Assert.Equal([third.ToString(), second.ToString(), first.ToString()], listed.Select(d => d.EntryId));
        var page = await operations.ListDeadLettersAsync(streams.Requests, 1, beforeId: second.ToString());
        Assert.Equal(first.ToString(), Assert.Single(page).EntryId);

        var shown = await operations.GetDeadLetterAsync(streams.Requests, first.ToString());
        Assert.NotNull(shown);
        Assert.Equal(("<img src=x onerror=alert(1)>", "1-0", "crewai-workers", "w1"), (shown.Reason, shown.OriginalId, shown.GroupName, shown.ConsumerName));
        Assert.Equal(runId, shown.RunId);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), shown.DeadAt);
        Assert.Equal(7, shown.Fields.Count);
        Assert.Null((await operations.GetDeadLetterAsync(streams.Requests, second.ToString()))!.RunId);

        var newId = await operations.ReplayDeadLetterAsync(streams.Requests, first.ToString());
        Assert.NotNull(newId);
        var replayed = Assert.Single(await db.StreamRangeAsync(streams.Requests));
        Assert.Equal(newId, replayed.Id.ToString());
        Assert.Equal(
            [("payload", payload), ("schema_version", "v1"), ("replayed_from", first.ToString())],
            replayed.Values.Select(v => (v.Name.ToString(), v.Value.ToString())));
        Assert.Null(await operations.ReplayDeadLetterAsync(streams.Requests, first.ToString()));
        Assert.Single(await db.StreamRangeAsync(streams.Requests));

        Assert.True(await operations.DeleteDeadLetterAsync(streams.Requests, second.ToString()));
        Assert.False(await operations.DeleteDeadLetterAsync(streams.Requests, second.ToString()));
        Assert.Equal(1, await operations.PurgeDeadLettersAsync(streams.Requests));
        Assert.Empty(await operations.ListDeadLettersAsync(streams.Requests));
        Assert.Equal(0, await operations.PurgeDeadLettersAsync(streams.Requests));
    }

    [Fact]
    public async Task PeriodicTrimmer_TrimsEventsOlderThanTheirRetention_EvenUnacknowledged()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o =>
        {
            o.TrimInterval = TimeSpan.FromMilliseconds(100);
            o.EventRetention = TimeSpan.FromHours(1);
        });
        using var host = builder.Build();
        var db = redis.Database;
        await db.StreamCreateConsumerGroupAsync(streams.Events, "app-workers", StreamPosition.Beginning, createStream: true);
        var old = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds();
        await db.StreamAddAsync(streams.Events, "n", 1, $"{old}-0");
        await db.StreamAddAsync(streams.Events, "n", 2, $"{old}-1");
        var fresh = await db.StreamAddAsync(streams.Events, "n", 3);
        await db.StreamAddAsync(streams.Requests, "n", 1, $"{old}-0");
        await host.StartAsync();

        await Eventually.WaitAsync(async () => await db.StreamLengthAsync(streams.Events) == 1, "the old events to be trimmed");
        Assert.Equal(fresh, (await db.StreamRangeAsync(streams.Events))[0].Id);
        Assert.Equal(1, await db.StreamLengthAsync(streams.Requests));
        await host.StopAsync();
    }
}
