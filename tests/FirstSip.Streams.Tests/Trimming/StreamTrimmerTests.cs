using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Trimming;

[Collection(RedisCollections.Name)]
public sealed class StreamTrimmerTests(RedisServer redis)
{
    [Fact]
    public async Task TrimAcknowledgedAsync_UnderBacklog_KeepsUnreadEntries_WhereMaxLenWouldDropThem()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var trimmer = host.Services.GetRequiredService<IStreamTrimmer>();
        var db = redis.Database;
        var stream = streams.Requests;
        await db.StreamCreateConsumerGroupAsync(stream, "workers", StreamPosition.Beginning, createStream: true);
        var ids = new List<RedisValue>();
        for (var i = 0; i < 100; i++)
        {
            ids.Add(await db.StreamAddAsync(stream, "n", i));
        }

        // The group is behind: 20 read, 10 of them acknowledged, 80 never read.
        var read = await db.StreamReadGroupAsync(stream, "workers", "c1", StreamPosition.NewMessages, 20);
        await db.StreamAcknowledgeAsync(stream, "workers", [.. read.Take(10).Select(e => e.Id)]);

        var removed = await trimmer.TrimAcknowledgedAsync(stream);

        Assert.Equal(10, removed);
        var left = await db.StreamRangeAsync(stream);
        Assert.Equal(ids.Skip(10), left.Select(e => e.Id));

        // The unread entries (ids 20..99) all survived; a MAXLEN 10 trim of the same backlog drops 70 of them.
        var copy = streams.Prefix + "copy";
        foreach (var entry in left)
        {
            await db.StreamAddAsync(copy, entry.Values, entry.Id);
        }

        await db.StreamTrimAsync(copy, 10);
        var afterMaxLen = await db.StreamRangeAsync(copy);
        Assert.Equal(10, afterMaxLen.Length);
        Assert.DoesNotContain(ids[20], afterMaxLen.Select(e => e.Id));
        Assert.Contains(ids[20], left.Select(e => e.Id));
    }

    [Fact]
    public async Task TrimAcknowledgedAsync_TwoGroups_SlowestGroupDecides()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var trimmer = host.Services.GetRequiredService<IStreamTrimmer>();
        var db = redis.Database;
        var stream = streams.Results;
        await db.StreamCreateConsumerGroupAsync(stream, "fast", StreamPosition.Beginning, createStream: true);
        await db.StreamCreateConsumerGroupAsync(stream, "slow", StreamPosition.Beginning);
        for (var i = 0; i < 10; i++)
        {
            await db.StreamAddAsync(stream, "n", i);
        }

        var fast = await db.StreamReadGroupAsync(stream, "fast", "f", StreamPosition.NewMessages, 10);
        await db.StreamAcknowledgeAsync(stream, "fast", [.. fast.Select(e => e.Id)]);
        var slow = await db.StreamReadGroupAsync(stream, "slow", "s", StreamPosition.NewMessages, 3);
        await db.StreamAcknowledgeAsync(stream, "slow", [.. slow.Select(e => e.Id)]);

        Assert.Equal(3, await trimmer.TrimAcknowledgedAsync(stream));
        Assert.Equal(7, await db.StreamLengthAsync(stream));

        // Everything acknowledged by both: everything goes, and a later entry is kept.
        var rest = await db.StreamReadGroupAsync(stream, "slow", "s", StreamPosition.NewMessages, 10);
        await db.StreamAcknowledgeAsync(stream, "slow", [.. rest.Select(e => e.Id)]);
        Assert.Equal(7, await trimmer.TrimAcknowledgedAsync(stream));
        await db.StreamAddAsync(stream, "n", 10);
        Assert.Equal(0, await trimmer.TrimAcknowledgedAsync(stream));
        Assert.Equal(1, await db.StreamLengthAsync(stream));
    }

    [Fact]
    public async Task TrimAcknowledgedAsync_PendingEntry_IsKept()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var trimmer = host.Services.GetRequiredService<IStreamTrimmer>();
        var db = redis.Database;
        var stream = streams.Events;
        await db.StreamCreateConsumerGroupAsync(stream, "g", StreamPosition.Beginning, createStream: true);
        for (var i = 0; i < 5; i++)
        {
            await db.StreamAddAsync(stream, "n", i);
        }

        var read = await db.StreamReadGroupAsync(stream, "g", "c", StreamPosition.NewMessages, 5);
        await db.StreamAcknowledgeAsync(stream, "g", [read[0].Id, read[1].Id, read[3].Id, read[4].Id]);

        Assert.Equal(2, await trimmer.TrimAcknowledgedAsync(stream));
        Assert.Equal([read[2].Id, read[3].Id, read[4].Id], (await db.StreamRangeAsync(stream)).Select(e => e.Id));
    }

    [Fact]
    public async Task TrimAcknowledgedAsync_NoGroupOrNoStream_RemovesNothing()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var trimmer = host.Services.GetRequiredService<IStreamTrimmer>();
        Assert.Equal(0, await trimmer.TrimAcknowledgedAsync(streams.Requests));
        await redis.Database.StreamAddAsync(streams.Requests, "n", 1);
        Assert.Equal(0, await trimmer.TrimAcknowledgedAsync(streams.Requests));
        Assert.Equal(1, await redis.Database.StreamLengthAsync(streams.Requests));
    }

    [Fact]
    public async Task PeriodicTrimmer_WhenEnabled_TrimsAcknowledgedEntries()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o => o.TrimInterval = TimeSpan.FromMilliseconds(200));
        builder.Services.AddSingleton(probe);
        builder.Services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>(TestHosts.Fast);
        using var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync([.. Enumerable.Range(0, 10).Select(_ => Results.Completed())]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 10, "handled");
        await Eventually.WaitAsync(async () => await redis.Database.StreamLengthAsync(streams.Results) == 0, "trimmed by the periodic trimmer");
        await host.StopAsync();
    }

    [Fact]
    public async Task TrimOlderThanAsync_RemovesEntriesOlderThanTheAge_AndKeepsNewerOnes()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var trimmer = host.Services.GetRequiredService<IStreamTrimmer>();
        var dead = streams.Requests + ":dead";
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var old = now - (long)TimeSpan.FromDays(8).TotalMilliseconds;
        var recent = now - (long)TimeSpan.FromDays(6).TotalMilliseconds;
        await redis.Database.StreamAddAsync(dead, "n", 1, messageId: $"{old}-0");
        await redis.Database.StreamAddAsync(dead, "n", 2, messageId: $"{old}-1");
        await redis.Database.StreamAddAsync(dead, "n", 3, messageId: $"{recent}-0");

        Assert.Equal(2, await trimmer.TrimOlderThanAsync(dead, TimeSpan.FromDays(7)));
        Assert.Equal($"{recent}-0", (string?)Assert.Single(await redis.Database.StreamRangeAsync(dead)).Id);
        Assert.Equal(0, await trimmer.TrimOlderThanAsync(streams.Results + ":dead", TimeSpan.FromDays(7)));
    }

    [Fact]
    public async Task PeriodicTrimmer_WithADeadLetterRetention_TrimsOldDeadLetters()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o =>
        {
            o.TrimInterval = TimeSpan.FromMilliseconds(200);
            o.DeadLetterRetention = TimeSpan.FromHours(1);
        });
        using var host = builder.Build();
        var dead = streams.Events + ":dead";
        var old = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds();
        await redis.Database.StreamAddAsync(dead, "n", 1, messageId: $"{old}-0");
        await redis.Database.StreamAddAsync(dead, "n", 2);
        await host.StartAsync();
        await Eventually.WaitAsync(async () => await redis.Database.StreamLengthAsync(dead) == 1, "the old dead letter trimmed");
        await host.StopAsync();
    }
}
