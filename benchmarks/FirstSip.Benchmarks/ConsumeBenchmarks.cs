using BenchmarkDotNet.Attributes;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace FirstSip.Benchmarks;

/// <summary>
/// One consumer draining a seeded backlog: blocking reads of up to 500 entries, a trivial handler resolved
/// from a new scope per message, acknowledgements batched. Measured until every entry is handled and acknowledged.
/// </summary>
[MemoryDiagnoser]
public class ConsumeBenchmarks
{
    public const int Messages = 50_000;

    private BenchRedis _redis = null!;
    private IHost? _host;
    private string _stream = string.Empty;
    private int _iteration;

    [GlobalSetup]
    public void Setup() => _redis = BenchRedis.Start();

    [IterationSetup]
    public void SeedBacklog()
    {
        _stream = $"bench:consume:{++_iteration}";
        var db = _redis.Connection.GetDatabase();
        var fields = PluginResultCodec.Instance.Encode(Payloads.Result);
        var tasks = new Task[Messages];
        for (var i = 0; i < Messages; i++)
        {
            tasks[i] = db.StreamAddAsync(_stream, fields);
        }

        Task.WaitAll(tasks);
        CountingHandler.Reset(Messages);

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton<IConnectionMultiplexer>(_redis.Connection);
        builder.Services.AddPluginStreams(o => o.ResultsStream = _stream)
            .AddResultHandler<CountingHandler>(o =>
            {
                o.Concurrency = 1000;
                o.BatchSize = 500;
            });
        _host = builder.Build();
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task ConsumeAndAck()
    {
        await _host!.StartAsync();
        await CountingHandler.AllHandled;
        var db = _redis.Connection.GetDatabase();
        while ((await db.StreamPendingAsync(_stream, "app-workers")).PendingMessageCount > 0)
        {
            await Task.Yield();
        }
    }

    [IterationCleanup]
    public void Cleanup()
    {
        _host!.StopAsync().GetAwaiter().GetResult();
        _host.Dispose();
        _redis.Connection.GetDatabase().KeyDelete(_stream);
    }

    [GlobalCleanup]
    public void TearDown() => _redis.Dispose();

    internal sealed class CountingHandler : IStreamMessageHandler<PluginResult>
    {
        private static int s_remaining;
        private static TaskCompletionSource s_done = new();

        public static Task AllHandled => s_done.Task;

        public static void Reset(int count)
        {
            s_remaining = count;
            s_done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public Task HandleAsync(StreamMessage<PluginResult> message, CancellationToken cancellationToken)
        {
            if (Interlocked.Decrement(ref s_remaining) == 0)
            {
                s_done.TrySetResult();
            }

            return Task.CompletedTask;
        }
    }
}
