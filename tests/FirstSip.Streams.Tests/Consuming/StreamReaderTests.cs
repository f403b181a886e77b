using System.Diagnostics;
using System.Diagnostics.Metrics;
using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.Consuming;

[Collection(RedisCollections.Name)]
public sealed class StreamReaderTests(RedisServer redis)
{
    private const string AppGroup = "app-workers";

    [Fact]
    public async Task Reader_RoundTrip_HandlesAcksAndContinuesTrace()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe);
        using var processed = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.processed");
        using var duration = new MetricCollector<double>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.message.process.duration");
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PluginStreamsTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (spans) { spans.Add(a); } },
        };
        ActivitySource.AddActivityListener(listener);
        await host.StartAsync();

        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
        var sent = Enumerable.Range(0, 50).Select(_ => Results.Completed()).ToArray();
        var ids = await publisher.PublishManyAsync(sent);
        var single = Results.Completed();
        var singleId = await publisher.PublishAsync(single);

        await Eventually.WaitAsync(() => probe.Handled.Count >= 51, "51 results handled");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "all acknowledged");
        await host.StopAsync();

        Assert.Equal(sent.Select(m => m.PluginRunId).Append(single.PluginRunId).Order(), probe.Handled.Select(m => m.Message.PluginRunId).Order());
        var handled = probe.Handled.Single(m => m.Id == singleId);
        Assert.Equal(streams.Results, handled.StreamName);
        Assert.Equal(1, handled.DeliveryCount);
        Assert.NotNull(handled.PublishedAt);
        Assert.NotNull(handled.TraceParent);
        Assert.Equal(51, processed.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.All(processed.GetMeasurementSnapshot(), m => Assert.Equal(AppGroup, m.Tags["messaging.consumer.group.name"]));
        Assert.Equal(51, duration.GetMeasurementSnapshot().Count);
        Assert.All(duration.GetMeasurementSnapshot(), m => Assert.True(m.Value >= 0));

        lock (spans)
        {
            var publish = spans.Single(s => s.DisplayName == streams.Results + " publish" && (string?)s.GetTagItem("messaging.message.id") == singleId);
            var process = spans.Single(s => s.DisplayName == streams.Results + " process" && (string?)s.GetTagItem("messaging.message.id") == singleId);
            Assert.Equal(ActivityKind.Producer, publish.Kind);
            Assert.Equal(ActivityKind.Consumer, process.Kind);
            Assert.Equal(publish.TraceId, process.TraceId);
            Assert.Equal(publish.SpanId, process.ParentSpanId);
            Assert.Equal(AppGroup, process.GetTagItem("messaging.consumer.group.name"));
            Assert.Equal("redis", process.GetTagItem("messaging.system"));
        }

        Assert.Contains(ids, id => probe.Handled.Any(m => m.Id == id));
    }

    [Fact]
    public async Task Reader_PollingMode_RoundTrip()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe, o => o.ReadMode = StreamReadMode.Polling);
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync([.. Enumerable.Range(0, 20).Select(_ => Results.Completed())]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 20, "20 results handled by polling");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "all acknowledged");
        await host.StopAsync();
    }

    [Fact]
    public async Task Reader_HandlerThrows_EntryNotAckedAndRedelivered()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var failures = 0;
        probe.Behavior = (m, _) => Interlocked.Increment(ref failures) == 1 ? throw new InvalidOperationException("first delivery fails") : Task.CompletedTask;
        using var host = TestHosts.ResultReader(redis, streams, probe);
        using var failed = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.failed");
        await host.StartAsync();

        var id = await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        await Eventually.WaitAsync(() => failed.GetMeasurementSnapshot().Sum(m => m.Value) == 1, "the handler failed once");
        var pending = await redis.Database.StreamPendingMessagesAsync(streams.Results, AppGroup, 10, RedisValue.Null);
        Assert.Equal(id, Assert.Single(pending).MessageId.ToString());

        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "the entry was delivered again and handled");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged after success");
        await host.StopAsync();

        var handled = Assert.Single(probe.Handled);
        Assert.Equal(id, handled.Id);
        Assert.Equal(2, handled.DeliveryCount);
        var logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Contains(logs, r => r.Level == LogLevel.Error && r.Message.Contains(id, StringComparison.Ordinal) && r.Exception is InvalidOperationException);
    }

    [Fact]
    public async Task Reader_ConsumerDiesMidHandling_AnotherReclaimsAfterClaimTimeout()
    {
        var streams = new TestStreams();
        var dying = new Probe<PluginResult>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        dying.Behavior = async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        };

        // The first consumer never finishes: on stop its handler is cancelled after a short grace period, nothing acked.
        var first = TestHosts.ResultReader(redis, streams, dying, o => o.ShutdownGracePeriod = TimeSpan.FromMilliseconds(100));
        await first.StartAsync();
        var id = await first.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        await started.Task.WaitAsync(Eventually.DefaultTimeout);
        await first.StopAsync();
        first.Dispose();
        Assert.Empty(dying.Handled);
        Assert.Equal(1, (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount);

        var survivor = new Probe<PluginResult>();
        using var second = TestHosts.ResultReader(redis, streams, survivor);
        using var reclaimed = new MetricCollector<long>(second.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.reclaimed");
        await second.StartAsync();
        await Eventually.WaitAsync(() => survivor.Handled.Count == 1, "the second consumer handled the dead consumer's entry");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged");
        await second.StopAsync();

        var handled = Assert.Single(survivor.Handled);
        Assert.Equal(id, handled.Id);
        Assert.Equal(2, handled.DeliveryCount);
        Assert.Equal(1, reclaimed.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task Reader_LongHandler_RenewsItsEntrySoItIsNotStolen()
    {
        var streams = new TestStreams();
        var slow = new Probe<PluginResult>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slow.Behavior = async (_, ct) =>
        {
            started.TrySetResult();

            // Four claim timeouts long.
            await Task.Delay(TimeSpan.FromSeconds(4), ct);
        };
        // Its own reclaim pass is far away: only renewal keeps the entry from going idle.
        using var a = TestHosts.ResultReader(redis, streams, slow, o => o.ClaimInterval = TimeSpan.FromMinutes(5));
        await a.StartAsync();
        await a.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        await started.Task.WaitAsync(Eventually.DefaultTimeout);

        // A second consumer in the same group reclaims every 200 ms anything idle for more than 1 s.
        var thief = new Probe<PluginResult>();
        using var b = TestHosts.ResultReader(redis, streams, thief);
        await b.StartAsync();

        await Eventually.WaitAsync(() => slow.Handled.Count == 1, "the long handler finished");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged");
        await b.StopAsync();
        await a.StopAsync();

        Assert.Empty(thief.Attempts);
        Assert.Single(slow.Attempts);
    }

    [Theory]
    [InlineData("resp3")]
    [InlineData("resp2")]
    public async Task Reader_PoisonEntry_DeadLetteredWithReasonAndAcked(string protocol)
    {
        // New entries are decoded from the raw reply, whose shape differs between the protocols.
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe, protocol: protocol);
        using var dead = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.dead_lettered");
        await host.StartAsync();

        const string runId = "3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40";
        var poisonId = await redis.Database.StreamAddAsync(streams.Results, [
            new("payload", $"{{\"plugin_run_id\":\"{runId}\",\"status\":\"weird\",\"output\":null,\"error\":null}}"),
            new("schema_version", "v1"),
            new("extra", "kept")]);
        var goodId = await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());

        await Eventually.WaitAsync(() => probe.Handled.Count == 1 && probe.DeadLettered.Count == 1, "one handled and one dead-lettered");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "both acknowledged");
        await host.StopAsync();

        Assert.Equal(goodId, probe.Handled.Single().Id);
        Assert.NotNull(probe.Handled.Single().PublishedAt);
        var entry = probe.DeadLettered.Single();
        Assert.Equal("unknown status weird", entry.Reason);
        Assert.Equal(runId, entry.Key);
        Assert.Equal(poisonId.ToString(), entry.EntryId);
        Assert.Equal(AppGroup, entry.GroupName);

        var deadEntry = Assert.Single(await redis.Database.StreamRangeAsync(streams.Results + ":dead"));
        Assert.Equal("unknown status weird", (string?)deadEntry["dead_reason"]);
        Assert.Equal(poisonId.ToString(), (string?)deadEntry["dead_original_id"]);
        Assert.Equal(AppGroup, (string?)deadEntry["dead_group"]);
        Assert.False(deadEntry["dead_consumer"].IsNullOrEmpty);
        Assert.False(deadEntry["dead_at"].IsNullOrEmpty);
        Assert.Equal("kept", (string?)deadEntry["extra"]);
        Assert.Equal("v1", (string?)deadEntry["schema_version"]);
        Assert.Equal(1, dead.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("unknown status weird", StringComparison.Ordinal));

        // Both were read as new entries: no failed read had them recovered another way.
        Assert.DoesNotContain(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Name == "ReadFailed");
    }

    [Fact]
    public async Task Reader_DeliveredMoreThanMaxDeliveries_DeadLettered()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        probe.Behavior = (_, _) => throw new InvalidOperationException("always fails");
        using var host = TestHosts.ResultReader(redis, streams, probe, o => o.MaxDeliveries = 2);
        await host.StartAsync();
        var result = Results.Completed();
        var id = await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(result);

        await Eventually.WaitAsync(() => probe.DeadLettered.Count == 1, "dead-lettered after too many deliveries");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged");
        await host.StopAsync();

        Assert.Equal(2, probe.Attempts.Count);
        var entry = probe.DeadLettered.Single();
        Assert.Equal("delivered 3 times, more than the maximum 2", entry.Reason);
        Assert.Equal(result.PluginRunId.ToString(), entry.Key);
        Assert.Equal(3, entry.DeliveryCount);
        var deadEntry = Assert.Single(await redis.Database.StreamRangeAsync(streams.Results + ":dead"));
        Assert.Equal(entry.Reason, (string?)deadEntry["dead_reason"]);
        Assert.Equal(id, (string?)deadEntry["dead_original_id"]);
    }

    [Fact]
    public async Task Reader_WithoutDeadLetterAfterMaxDeliveries_KeepsHandlingADecodableEntry_UntilItSucceeds()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var calls = 0;
        probe.Behavior = (_, _) => Interlocked.Increment(ref calls) <= 4 ? throw new InvalidOperationException("the database is down") : Task.CompletedTask;
        using var host = TestHosts.ResultReader(redis, streams, probe, o =>
        {
            o.MaxDeliveries = 2;
            o.DeadLetterAfterMaxDeliveries = false;
        });
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());

        await Eventually.WaitAsync(async () => Volatile.Read(ref calls) == 5 &&
            (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "handled on its fifth delivery and acknowledged");
        await host.StopAsync();

        Assert.Empty(probe.DeadLettered);
        Assert.Equal(0, await redis.Database.StreamLengthAsync(streams.Results + ":dead"));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, probe.Attempts.Select(a => a.DeliveryCount));
    }

    [Fact]
    public async Task Reader_DeadLetterCallbackThrows_NothingAckedUntilItSucceeds()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var calls = 0;
        probe.OnDeadLettered = _ => Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("database down") : Task.CompletedTask;
        using var host = TestHosts.ResultReader(redis, streams, probe);
        await host.StartAsync();
        await redis.Database.StreamAddAsync(streams.Results, [new("schema_version", "v1")]);

        await Eventually.WaitAsync(() => Volatile.Read(ref calls) >= 1, "the callback ran");
        Assert.Equal(0, await redis.Database.StreamLengthAsync(streams.Results + ":dead"));
        await Eventually.WaitAsync(() => probe.DeadLettered.Count == 1, "dead-lettered on a later delivery");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged");
        await host.StopAsync();
        Assert.Equal("missing payload", probe.DeadLettered.Single().Reason);
        Assert.Equal(1, await redis.Database.StreamLengthAsync(streams.Results + ":dead"));
    }

    [Fact]
    public async Task Reader_Stop_DrainsInFlightHandlers()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var started = 0;
        var cancelled = 0;
        probe.Behavior = async (_, ct) =>
        {
            Interlocked.Increment(ref started);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(700), ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelled);
                throw;
            }
        };
        using var host = TestHosts.ResultReader(redis, streams, probe, o => o.Concurrency = 4);
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync([.. Enumerable.Range(0, 4).Select(_ => Results.Completed())]);
        await Eventually.WaitAsync(() => Volatile.Read(ref started) == 4, "four handlers running");

        await host.StopAsync();

        Assert.Equal(4, probe.Handled.Count);
        Assert.Equal(0, cancelled);
        Assert.Equal(0, (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount);
    }

    [Fact]
    public async Task Reader_EntryArrivingDuringStop_IsHandledNotStranded()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe, o =>
        {
            o.BlockTime = TimeSpan.FromSeconds(3);
            o.StalledAfter = TimeSpan.FromSeconds(10);
        });
        await host.StartAsync();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
        await publisher.PublishAsync(Results.Completed());
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "first handled");

        // The reader now waits in a blocking read; stop, and publish while that read is still out.
        var stopping = host.StopAsync();
        var id = await publisher.PublishAsync(Results.Completed());
        await stopping;

        // Whatever the last read delivered was handled during the grace period, not left pending for a reclaim.
        Assert.Equal(0, (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount);
        var groups = await redis.Database.StreamGroupInfoAsync(streams.Results);
        if (groups.Single().LastDeliveredId == id)
        {
            Assert.Contains(probe.Handled, m => m.Id == id);
        }
    }

    [Fact]
    public async Task Reader_StopAfterGracePeriod_CancelsHandlersAndLeavesEntriesPending()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = 0;
        probe.Behavior = async (_, ct) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelled);
                throw;
            }
        };
        using var host = TestHosts.ResultReader(redis, streams, probe, o => o.ShutdownGracePeriod = TimeSpan.FromMilliseconds(300));
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        await started.Task.WaitAsync(Eventually.DefaultTimeout);

        await host.StopAsync();

        Assert.Equal(1, cancelled);
        Assert.Equal(1, (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount);
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Name == "HandlersCancelled");
    }

    [Fact]
    public async Task Reader_ConcurrencyBound_Holds()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        probe.Behavior = (_, ct) => Task.Delay(50, ct);
        using var host = TestHosts.ResultReader(redis, streams, probe, o => o.Concurrency = 3);
        await host.StartAsync();
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync([.. Enumerable.Range(0, 30).Select(_ => Results.Completed())]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 30, "30 handled");
        await host.StopAsync();

        Assert.Equal(3, probe.MaxRunning);
    }

    [Fact]
    public async Task Reader_Backlog_ReadsAheadWithinTheBound_EachEntryOnce()
    {
        var streams = new TestStreams();
        await redis.Database.StreamCreateConsumerGroupAsync(streams.Results, AppGroup, StreamPosition.Beginning, createStream: true);
        var sent = Enumerable.Range(0, 2000).Select(_ => Results.Completed()).ToArray();
        var probe = new Probe<PluginResult>();
        probe.Behavior = async (_, _) => await Task.Yield();
        using var host = TestHosts.ResultReader(redis, streams, probe, o =>
        {
            o.Concurrency = 40;
            o.BatchSize = 10;
        });
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync(sent);
        await host.StartAsync();

        await Eventually.WaitAsync(() => probe.Handled.Count >= 2000, "backlog handled");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "all acknowledged");
        await host.StopAsync();

        Assert.Equal(2000, probe.Handled.Count);
        Assert.Equal(sent.Select(m => m.PluginRunId).Order(), probe.Handled.Select(m => m.Message.PluginRunId).Order());
        Assert.All(probe.Handled, m => Assert.Equal(1, m.DeliveryCount));
        Assert.InRange(probe.MaxRunning, 1, 40);
    }

    [Fact]
    public async Task Reader_ConnectionKilledMidRead_Survives()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe);
        await host.StartAsync();
        var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
        await publisher.PublishAsync(Results.Completed());
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "first handled");

        // The reader is now inside a blocking XREADGROUP on its dedicated connection: drop it, and every other client.
        await Eventually.WaitAsync(
            async () => await redis.KillClientsAsync(name => name.StartsWith("firstsip-reader-", StringComparison.Ordinal)) >= 1,
            "the blocking connection found and killed");
        await redis.KillClientsAsync();

        await Eventually.WaitAsync(async () =>
        {
            try
            {
                await publisher.PublishAsync(Results.Completed());
                return true;
            }
            catch (StreamPublishException)
            {
                return false;
            }
        }, "published after the kill");
        await Eventually.WaitAsync(() => probe.Handled.Count >= 2, "handled after the kill");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "acknowledged");
        await host.StopAsync();
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Name == "ReadFailed");
    }

    [Fact]
    public async Task Reader_FixedConsumerName_RecoversItsOwnPendingAtStart()
    {
        var streams = new TestStreams();
        await redis.Database.StreamCreateConsumerGroupAsync(streams.Results, AppGroup, StreamPosition.Beginning, createStream: true);
        await redis.Database.StreamAddAsync(streams.Results, PluginResultCodec.Instance.Encode(Results.Completed()));
        var read = await redis.Database.StreamReadGroupAsync(streams.Results, AppGroup, "worker-1", StreamPosition.NewMessages, 10);
        Assert.Single(read);

        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe, o =>
        {
            o.ConsumerName = "worker-1";
            o.ClaimTimeout = TimeSpan.FromMinutes(5);
            o.RenewInterval = TimeSpan.FromMinutes(1);
        });
        await host.StartAsync();
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "the consumer's own pending entry handled");
        await host.StopAsync();
        Assert.Equal(read[0].Id.ToString(), probe.Handled.Single().Id);
        Assert.Equal(2, probe.Handled.Single().DeliveryCount);
    }

    [Fact]
    public async Task Reader_EntryDeletedWhilePending_IsCountedNotCrashedOn()
    {
        var streams = new TestStreams();
        await redis.Database.StreamCreateConsumerGroupAsync(streams.Results, AppGroup, StreamPosition.Beginning, createStream: true);
        var id = await redis.Database.StreamAddAsync(streams.Results, PluginResultCodec.Instance.Encode(Results.Completed()));
        await redis.Database.StreamReadGroupAsync(streams.Results, AppGroup, "ghost", StreamPosition.NewMessages, 10);
        await redis.Database.StreamDeleteAsync(streams.Results, [id]);

        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe);
        using var deleted = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), PluginStreamsTelemetry.MeterName, "firstsip.streams.messages.deleted_while_pending");
        await host.StartAsync();
        await Eventually.WaitAsync(() => deleted.GetMeasurementSnapshot().Sum(m => m.Value) == 1, "the deleted entry counted");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Results, AppGroup)).PendingMessageCount == 0, "gone from the pending list");

        // The reader still works.
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "a later entry handled");
        await host.StopAsync();
    }

    [Fact]
    public async Task Reader_ProtocolVectors_HandledOrDeadLetteredWithReason()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginRequest>();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton(probe);
        builder.Services.AddPluginStreams().AddRequestHandler<ProbeHandler<PluginRequest>>(TestHosts.Fast);
        using var host = builder.Build();
        await host.StartAsync();

        var cases = Messages.ProtocolVectorTests.Load("requests.json")["cases"]!.AsArray();
        var idsByCase = new Dictionary<string, string>();
        foreach (var c in cases)
        {
            var id = await redis.Database.StreamAddAsync(streams.Requests, Messages.ProtocolVectorTests.ToFields(c!["fields"]!.AsObject()));
            idsByCase[c["name"]!.GetValue<string>()] = id.ToString();
        }

        var poisonCount = cases.Count(c => c!.AsObject().ContainsKey("poison"));
        await Eventually.WaitAsync(() => probe.Handled.Count + probe.DeadLettered.Count == cases.Count, "every vector handled or dead-lettered");
        await Eventually.WaitAsync(async () => (await redis.Database.StreamPendingAsync(streams.Requests, "crewai-workers")).PendingMessageCount == 0, "all acknowledged");
        await host.StopAsync();

        Assert.Equal(poisonCount, probe.DeadLettered.Count);
        var dead = await redis.Database.StreamRangeAsync(streams.Requests + ":dead");
        foreach (var c in cases.Select(c => c!.AsObject()))
        {
            var id = idsByCase[c["name"]!.GetValue<string>()];
            if (c["poison"] is { } poison)
            {
                var entry = Assert.Single(dead, d => (string?)d["dead_original_id"] == id);
                Assert.Equal(poison.GetValue<string>(), (string?)entry["dead_reason"]);
                Assert.Equal(c["run_id"]?.GetValue<string>(), probe.DeadLettered.Single(d => d.EntryId == id).Key);
            }
            else
            {
                var handled = probe.Handled.Single(m => m.Id == id);
                if (c["expect"]?["traceparent"] is { } traceParent)
                {
                    Assert.Equal(traceParent.GetValue<string>(), handled.TraceParent);
                    Assert.Equal(2, handled.Message.Attempt);
                }

                Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1771469823), handled.PublishedAt);
            }
        }
    }

    [Fact]
    public async Task Reader_RedisRestart_RecreatesGroupAndContinues()
    {
        var privateRedis = await RedisServer.StartPrivateAsync();
        try
        {
            var streams = new TestStreams();
            var probe = new Probe<PluginResult>();
            using var host = TestHosts.ResultReader(privateRedis, streams, probe);
            await host.StartAsync();
            var publisher = host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();
            await publisher.PublishAsync(Results.Completed());
            await Eventually.WaitAsync(() => probe.Handled.Count == 1, "handled before the restart");

            await privateRedis.StopAsync();
            await Task.Delay(300);
            await privateRedis.StartAsync();

            await Eventually.WaitAsync(async () =>
            {
                try
                {
                    await publisher.PublishAsync(Results.Completed());
                    return true;
                }
                catch (StreamPublishException)
                {
                    return false;
                }
            }, "published after the restart");
            await Eventually.WaitAsync(() => probe.Handled.Count >= 2, "handled after the restart");
            await host.StopAsync();
            var logs = host.Services.GetFakeLogCollector().GetSnapshot();
            Assert.Contains(logs, r => r.Id.Name is "GroupMissing" or "ReadFailed");
        }
        finally
        {
            await privateRedis.DisposeAsync();
        }
    }
    [Fact]
    public async Task Reader_RepeatedField_FirstOccurrenceWins()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        using var host = TestHosts.ResultReader(redis, streams, probe);
        await host.StartAsync();

        var first = PluginResultCodec.Instance.Encode(Results.Completed("first"));
        var second = PluginResultCodec.Instance.Encode(Results.Completed("second"));
        await redis.Database.StreamAddAsync(streams.Results, [.. first, .. second, new("published_at", 1771469823), new("published_at", 5)]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "handled");
        await host.StopAsync();

        var handled = probe.Handled.Single();
        Assert.Equal("first", handled.Message.Output);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1771469823), handled.PublishedAt);
    }

    [Fact]
    public async Task Reader_CodecOfItsOwn_DecodesTheEntrysFields()
    {
        var streams = new TestStreams();
        var probe = new Probe<Tagged>();
        using var host = TaggedReader(streams, probe);
        await host.StartAsync();

        byte[] binary = [0, 255, 13, 10, 128];
        await redis.Database.StreamAddAsync(streams.Prefix + "tagged", [new("tag", "first"), new("blob", binary)]);
        await redis.Database.StreamAddAsync(streams.Prefix + "tagged", [new("blob", binary)]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 1 && probe.DeadLettered.Count == 1, "one handled and one dead-lettered");
        await host.StopAsync();

        var handled = probe.Handled.Single().Message;
        Assert.Equal("first", handled.Tag);
        Assert.Equal(binary, handled.Blob);
        Assert.Equal("no tag", probe.DeadLettered.Single().Reason);
        var deadEntry = Assert.Single(await redis.Database.StreamRangeAsync(streams.Prefix + "tagged:dead"));
        Assert.Equal(binary, (byte[]?)deadEntry["blob"]);
    }

    [Fact]
    public async Task Reader_CodecThrows_EntryDeadLetteredWithTheError()
    {
        var streams = new TestStreams();
        var probe = new Probe<Tagged>();
        using var host = TaggedReader(streams, probe);
        await host.StartAsync();

        await redis.Database.StreamAddAsync(streams.Prefix + "tagged", [new("tag", "throw")]);
        await redis.Database.StreamAddAsync(streams.Prefix + "tagged", [new("tag", "second")]);
        await Eventually.WaitAsync(() => probe.Handled.Count == 1 && probe.DeadLettered.Count == 1, "the reader went on after the codec threw");
        await host.StopAsync();

        Assert.Equal("second", probe.Handled.Single().Message.Tag);
        Assert.Equal("the codec failed: tag says throw", probe.DeadLettered.Single().Reason);
    }

    /// <summary>A host reading <c>{prefix}tagged</c> with <see cref="TaggedCodec"/> into <paramref name="probe"/>.</summary>
    private IHost TaggedReader(TestStreams streams, Probe<Tagged> probe)
    {
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton<IStreamEntryCodec<Tagged>>(new TaggedCodec());
        builder.Services.AddSingleton(probe);
        builder.Services.AddPluginStreams().AddStreamReader<Tagged, ProbeHandler<Tagged>>("tagged", o =>
        {
            TestHosts.Fast(o);
            o.StreamName = streams.Prefix + "tagged";
            o.GroupName = "tag-readers";
        });
        return builder.Build();
    }

    internal sealed record Tagged(string Tag, byte[]? Blob);

    /// <summary>A codec of an application's own, reading plain fields rather than a JSON payload.</summary>
    private sealed class TaggedCodec : IStreamEntryCodec<Tagged>
    {
        public NameValueEntry[] Encode(Tagged message) => [new("tag", message.Tag), new("blob", message.Blob)];

        public StreamDecodeResult<Tagged> Decode(NameValueEntry[] fields)
        {
            var tag = fields.FirstOrDefault(f => f.Name == "tag").Value;
            if (tag == "throw")
            {
                throw new InvalidOperationException("tag says throw");
            }

            var blob = fields.FirstOrDefault(f => f.Name == "blob").Value;
            return tag.IsNull
                ? StreamDecodeResult<Tagged>.Poison("no tag")
                : StreamDecodeResult<Tagged>.Success(new Tagged(tag!, blob.IsNull ? null : (byte[]?)blob));
        }
    }
}
