using BenchmarkDotNet.Attributes;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace FirstSip.Benchmarks;

/// <summary>
/// Publish-to-handler latency on an idle stream: one PublishAsync, measured until the handler runs. The reader
/// waits in a blocking XREADGROUP on its dedicated connection (the default read mode).
/// </summary>
[MemoryDiagnoser]
public class LatencyBenchmarks
{
    private BenchRedis _redis = null!;
    private IHost _host = null!;
    private IStreamPublisher<PluginResult> _publisher = null!;

    [Params(StreamReadMode.Blocking)]
    public StreamReadMode ReadMode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _redis = BenchRedis.Start();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton<IConnectionMultiplexer>(_redis.Connection);
        builder.Services.AddPluginStreams(o => o.ResultsStream = "bench:latency")
            .AddResultHandler<SignalHandler>(o => o.ReadMode = ReadMode);
        _host = builder.Build();
        _host.StartAsync().GetAwaiter().GetResult();
        _publisher = _host.Services.GetRequiredService<IStreamPublisher<PluginResult>>();

        // Warm the reader's dedicated connection.
        PublishToHandler().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void TearDown()
    {
        _host.StopAsync().GetAwaiter().GetResult();
        _host.Dispose();
        _redis.Dispose();
    }

    [Benchmark]
    public async Task PublishToHandler()
    {
        var handled = SignalHandler.Arm();
        await _publisher.PublishAsync(Payloads.Result);
        await handled;
    }

    internal sealed class SignalHandler : IStreamMessageHandler<PluginResult>
    {
        private static TaskCompletionSource s_next = new();

        public static Task Arm()
        {
            s_next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return s_next.Task;
        }

        public Task HandleAsync(StreamMessage<PluginResult> message, CancellationToken cancellationToken)
        {
            s_next.TrySetResult();
            return Task.CompletedTask;
        }
    }
}
