using System.Diagnostics;
using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;
using System.Diagnostics.Metrics;

namespace FirstSip.Streams.Tests.Publishing;

[Collection(RedisCollections.Name)]
public sealed class StreamPublisherTests(RedisServer redis)
{
    [Fact]
    public async Task PublishAsync_WritesFieldsPublishedAtAndTraceParent()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginRequest>>();
        Assert.Equal(streams.Requests, publisher.StreamName);

        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PluginStreamsTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);

        var request = new PluginRequest { PluginRunId = Guid.NewGuid(), PluginName = "daily-news-digest", UserId = "42" };
        var id = await publisher.PublishAsync(request);

        var entries = await redis.Database.StreamRangeAsync(streams.Requests);
        var entry = Assert.Single(entries);
        Assert.Equal(id, entry.Id.ToString());
        Assert.Equal("v1", (string?)entry["schema_version"]);
        var publishedAt = (long)entry["published_at"];
        Assert.InRange(publishedAt, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 60);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", (string?)entry["traceparent"]);
        Assert.Equal(request.PluginRunId, PluginRequestCodec.Instance.Decode(entry.Values).Message!.PluginRunId);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(200)]
    [InlineData(null)]
    public async Task PublishManyAsync_ReturnsIdsInOrder_AndCountsMetric(int? maxInFlight)
    {
        // 1000 messages cross several send chunks and in-flight windows, with a partial chunk at the end.
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        if (maxInFlight is { } max)
        {
            builder.Services.Configure<PluginStreamsOptions>(o => o.PublishMaxInFlight = max);
        }

        using var host = builder.Build();
        using var published = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.published");
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
        var messages = Enumerable.Range(0, 1000).Select(_ => Results.Completed()).ToArray();

        var ids = await publisher.PublishManyAsync(messages);

        Assert.Equal(1000, ids.Count);
        var entries = await redis.Database.StreamRangeAsync(streams.Results);
        Assert.Equal(ids, entries.Select(e => e.Id.ToString()));
        for (var i = 0; i < entries.Length; i++)
        {
            Assert.Equal(messages[i].PluginRunId, PluginResultCodec.Instance.Decode(entries[i].Values).Message!.PluginRunId);
        }

        Assert.Equal(1000, published.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.All(published.GetMeasurementSnapshot(), m => Assert.Equal(streams.Results, m.Tags["messaging.destination.name"]));
    }

    [Fact]
    public async Task PublishAsync_OversizePayload_ThrowsBeforeSending()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o => o.MaxPayloadBytes = 1000);
        using var host = builder.Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();

        var ex = await Assert.ThrowsAsync<PayloadTooLargeException>(() => publisher.PublishAsync(Results.Completed(new string('x', 2000))));
        Assert.Equal(1000, ex.LimitBytes);
        Assert.True(ex.PayloadBytes > 2000);
        Assert.StartsWith("payload too large (", ex.Message);

        await Assert.ThrowsAsync<PayloadTooLargeException>(() => publisher.PublishManyAsync([Results.Completed(), Results.Completed(new string('x', 2000))]));
        Assert.False(await redis.Database.KeyExistsAsync(streams.Results));
    }

    [Fact]
    public async Task PublishManyAsync_Requests_RoundTrip_AndOversizeSendsNothing()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o => o.MaxPayloadBytes = 4096);
        using var host = builder.Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginRequest>>();
        var requests = Enumerable.Range(0, 300).Select(i => new PluginRequest
        {
            PluginRunId = Guid.NewGuid(),
            PluginName = "p",
            UserId = i.ToString(),
            Settings = System.Text.Json.JsonDocument.Parse($"{{\"n\":{i},\"t\":\"café {i}\"}}").RootElement,
        }).ToArray();

        await publisher.PublishManyAsync(requests);
        var entries = await redis.Database.StreamRangeAsync(streams.Requests);
        Assert.Equal(requests.Select(r => r.PluginRunId), entries.Select(e => PluginRequestCodec.Instance.Decode(e.Values).Message!.PluginRunId));
        Assert.Equal("café 299", PluginRequestCodec.Instance.Decode(entries[^1].Values).Message!.Settings.GetProperty("t").GetString());

        // The last message's settings are over the limit: nothing of this batch is sent.
        var big = requests[0] with { PluginRunId = Guid.NewGuid(), Settings = System.Text.Json.JsonDocument.Parse($"{{\"x\":\"{new string('x', 5000)}\"}}").RootElement };
        await Assert.ThrowsAsync<PayloadTooLargeException>(() => publisher.PublishManyAsync([.. requests, big]));
        Assert.Equal(300, await redis.Database.StreamLengthAsync(streams.Requests));
    }

    [Fact]
    public async Task PublishAsync_DoesNotTrimByMaxLen()
    {
        var streams = new TestStreams();
        using var host = TestHosts.CreateBuilder(redis, streams).Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginEvent>>();
        await publisher.PublishManyAsync([.. Enumerable.Range(0, 5000).Select(i => new PluginEvent { PluginRunId = Guid.NewGuid(), Kind = PluginEventKind.Heartbeat, At = DateTimeOffset.UtcNow })]);
        Assert.Equal(5000, await redis.Database.StreamLengthAsync(streams.Events));
    }

    [Fact]
    public async Task PublishAsync_RedisUnreachable_ThrowsStreamPublishException()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<PluginStreamsOptions>(o => o.ConnectionString = "127.0.0.1:1,connectTimeout=200,asyncTimeout=500");
        using var host = builder.Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();

        var ex = await Assert.ThrowsAsync<StreamPublishException>(() => publisher.PublishAsync(Results.Completed()));
        Assert.Equal(streams.Results, ex.StreamName);
        Assert.IsAssignableFrom<RedisException>(ex.InnerException);
    }
}
