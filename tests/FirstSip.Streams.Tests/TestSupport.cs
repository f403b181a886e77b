using System.Collections.Concurrent;
using System.Reflection;
using FirstSip.Streams;
using FirstSip.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FirstSip.Streams.Tests;

[CollectionDefinition(RedisCollections.Name)]
public sealed class RedisCollectionDefinition : ICollectionFixture<RedisServer>
{
}

/// <summary>Waits on conditions with generous timeouts instead of sleeping.</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(25);
        }
    }

    public static Task WaitAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
        => WaitAsync(() => Task.FromResult(condition()), what, timeout);
}

/// <summary>Shared state between a test and the handlers its host resolves per message.</summary>
internal sealed class Probe<T>
{
    public ConcurrentQueue<StreamMessage<T>> Handled { get; } = new();

    public ConcurrentQueue<StreamMessage<T>> Attempts { get; } = new();

    public ConcurrentQueue<DeadLetteredEntry> DeadLettered { get; } = new();

    public Func<StreamMessage<T>, CancellationToken, Task>? Behavior { get; set; }

    public Func<DeadLetteredEntry, Task>? OnDeadLettered { get; set; }

    public int Running;

    public int MaxRunning;
}

internal sealed class ProbeHandler<T>(Probe<T> probe) : IStreamMessageHandler<T>
{
    public async Task HandleAsync(StreamMessage<T> message, CancellationToken cancellationToken)
    {
        probe.Attempts.Enqueue(message);
        var running = Interlocked.Increment(ref probe.Running);
        int max;
        while ((max = Volatile.Read(ref probe.MaxRunning)) < running && Interlocked.CompareExchange(ref probe.MaxRunning, running, max) != max)
        {
        }

        try
        {
            if (probe.Behavior is { } behavior)
            {
                await behavior(message, cancellationToken);
            }

            probe.Handled.Enqueue(message);
        }
        finally
        {
            Interlocked.Decrement(ref probe.Running);
        }
    }

    public async Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken)
    {
        if (probe.OnDeadLettered is { } callback)
        {
            await callback(entry);
        }

        probe.DeadLettered.Enqueue(entry);
    }
}

/// <summary>Names of one test's streams, under its own key prefix.</summary>
internal sealed class TestStreams
{
    public TestStreams()
    {
        Prefix = RedisServer.NewPrefix();
    }

    public string Prefix { get; }

    public string Requests => Prefix + "plugin:requests";

    public string Results => Prefix + "plugin:results";

    public string Events => Prefix + "plugin:events";

    public void Apply(PluginStreamsOptions options)
    {
        options.RequestsStream = Requests;
        options.ResultsStream = Results;
        options.EventsStream = Events;
        options.KeyPrefix = Prefix;
    }
}

internal static class TestHosts
{
    /// <summary>Reader options short enough for tests: claim timeouts of a second, not a minute.</summary>
    public static void Fast(StreamReaderOptions options)
    {
        options.BlockTime = TimeSpan.FromMilliseconds(200);
        options.ClaimTimeout = TimeSpan.FromSeconds(1);
        options.ClaimInterval = TimeSpan.FromMilliseconds(200);
        options.RenewInterval = TimeSpan.FromMilliseconds(250);
        options.ShutdownGracePeriod = TimeSpan.FromSeconds(5);
        options.StalledAfter = TimeSpan.FromSeconds(10);
    }

    /// <summary>A host builder whose streams connect to <paramref name="redis"/>, in RESP3 unless <paramref name="protocol"/> says otherwise.</summary>
    public static HostApplicationBuilder CreateBuilder(RedisServer redis, TestStreams streams, string? protocol = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddMetrics();
        builder.Services.AddFakeLogging();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddPluginStreams(o =>
        {
            o.ConnectionString = protocol is null ? redis.ConnectionString : redis.ConnectionString + ",protocol=" + protocol;
            streams.Apply(o);
        });
        return builder;
    }

    /// <summary>A host with a result reader whose handler is <see cref="ProbeHandler{T}"/> on <paramref name="probe"/>.</summary>
    public static IHost ResultReader(RedisServer redis, TestStreams streams, Probe<PluginResult> probe, Action<StreamReaderOptions>? configure = null, string? protocol = null)
    {
        var builder = CreateBuilder(redis, streams, protocol);
        builder.Services.AddSingleton(probe);
        builder.Services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>(o =>
        {
            Fast(o);
            configure?.Invoke(o);
        });
        return builder.Build();
    }
}

internal static class Paths
{
    public static string RepositoryRoot => RepositoryPaths.Root;

    public static string ProtocolDirectory => RepositoryPaths.ProtocolVectors;
}

internal static class Results
{
    public static PluginResult Completed(string output = "{\"summary\":\"ok\"}") => new()
    {
        PluginRunId = Guid.NewGuid(),
        Status = PluginResultStatus.Completed,
        Output = output,
    };
}
