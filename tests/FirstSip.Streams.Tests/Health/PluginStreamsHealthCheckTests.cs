using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FirstSip.Streams.Tests.Health;

[Collection(RedisCollections.Name)]
public sealed class PluginStreamsHealthCheckTests(RedisServer redis)
{
    [Fact]
    public async Task Healthy_WhenRedisReachableAndReadersRunning_DegradedWhenLagOverThreshold()
    {
        var streams = new TestStreams();
        var probe = new Probe<PluginResult>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        probe.Behavior = (_, ct) => release.Task.WaitAsync(ct);
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton(probe);
        builder.Services.AddHealthChecks().AddPluginStreams();
        builder.Services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>(o =>
        {
            TestHosts.Fast(o);
            o.Concurrency = 1;
            o.LagThreshold = 5;
        });
        using var host = builder.Build();
        using var lag = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(
            host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), FirstSip.Streams.PluginStreamsTelemetry.MeterName, "firstsip.streams.group.lag");
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        var report = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, report.Status);

        // One handler slot, blocked: the group falls behind by 19 entries.
        await host.Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishManyAsync([.. Enumerable.Range(0, 20).Select(_ => Results.Completed())]);
        await Eventually.WaitAsync(async () => (await health.CheckHealthAsync()).Status == HealthStatus.Degraded, "degraded on lag");
        var degraded = await health.CheckHealthAsync();
        Assert.Contains("lags", degraded.Entries["firstsip-streams"].Description);
        lag.RecordObservableInstruments();
        var measurement = lag.LastMeasurement!;
        Assert.True(measurement.Value > 5, $"lag {measurement.Value}");
        Assert.Equal(streams.Results, measurement.Tags["messaging.destination.name"]);
        Assert.Equal("app-workers", measurement.Tags["messaging.consumer.group.name"]);

        release.SetResult();
        await Eventually.WaitAsync(() => probe.Handled.Count == 20, "backlog handled");
        await Eventually.WaitAsync(async () => (await health.CheckHealthAsync()).Status == HealthStatus.Healthy, "healthy again");
        await host.StopAsync();
    }

    [Fact]
    public async Task Unhealthy_WhenRedisUnreachable()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.Configure<FirstSip.Streams.PluginStreamsOptions>(o => o.ConnectionString = "127.0.0.1:1,connectTimeout=200,asyncTimeout=300");
        builder.Services.AddHealthChecks().AddPluginStreams();
        using var host = builder.Build();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("Redis is not reachable", report.Entries["firstsip-streams"].Description);
    }
}

public sealed class PluginStreamsHealthCheckStallTests
{
    [Fact]
    public async Task Unhealthy_WhenAReaderLoopStalled()
    {
        await using var redis = await RedisServer.StartPrivateAsync();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var registry = new FirstSip.Streams.Internal.ReaderRegistry();
        var state = new FirstSip.Streams.Internal.ReaderState("results", "s", "g", "c", TimeSpan.FromSeconds(30), 100, time.GetTimestamp());
        registry.Add(state);
        var check = new FirstSip.Streams.Internal.PluginStreamsHealthCheck(redis.Connection, registry, time);
        var context = new HealthCheckContext { Registration = new HealthCheckRegistration("firstsip-streams", check, HealthStatus.Unhealthy, null) };

        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(context)).Status);

        time.Advance(TimeSpan.FromSeconds(31));
        state.LastError = "connection refused";
        var stalled = await check.CheckHealthAsync(context);
        Assert.Equal(HealthStatus.Unhealthy, stalled.Status);
        Assert.Contains("reader results on s has not looped for 31 s (last error: connection refused)", stalled.Description);

        state.MarkLoop(time.GetTimestamp());
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(context)).Status);
    }
}
