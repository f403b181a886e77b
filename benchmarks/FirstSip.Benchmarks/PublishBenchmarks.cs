using BenchmarkDotNet.Attributes;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FirstSip.Benchmarks;

/// <summary>Publishing: one awaited XADD at a time, and many pipelined with a bounded number in flight.</summary>
[MemoryDiagnoser]
public class PublishBenchmarks
{
    public const int Sequential = 2_000;
    public const int Bulk = 50_000;

    private BenchRedis _redis = null!;
    private ServiceProvider _services = null!;
    private IStreamPublisher<PluginResult> _publisher = null!;
    private PluginResult[] _bulk = null!;
    private NameValueEntry[] _rawFields = null!;

    [GlobalSetup]
    public void Setup()
    {
        _redis = BenchRedis.Start();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConnectionMultiplexer>(_redis.Connection);
        services.AddPluginStreams(o => o.ResultsStream = "bench:publish");
        _services = services.BuildServiceProvider();
        _publisher = _services.GetRequiredService<IStreamPublisher<PluginResult>>();
        _bulk = Enumerable.Repeat(Payloads.Result, Bulk).ToArray();
        _rawFields = [.. PluginResultCodec.Instance.Encode(Payloads.Result), new("published_at", 1771469823)];
    }

    [IterationCleanup]
    public void Cleanup() => _redis.Connection.GetDatabase().KeyDelete("bench:publish");

    [GlobalCleanup]
    public void TearDown()
    {
        _services.Dispose();
        _redis.Dispose();
    }

    /// <summary>The same XADD through StackExchange.Redis directly, awaited one at a time.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Sequential)]
    [BenchmarkCategory("sequential")]
    public async Task RawXAddSequential()
    {
        var db = _redis.Connection.GetDatabase();
        for (var i = 0; i < Sequential; i++)
        {
            await db.StreamAddAsync("bench:publish", _rawFields);
        }
    }

    [Benchmark(OperationsPerInvoke = Sequential)]
    [BenchmarkCategory("sequential")]
    public async Task PublishSequential()
    {
        for (var i = 0; i < Sequential; i++)
        {
            await _publisher.PublishAsync(Payloads.Result);
        }
    }

    [Benchmark(OperationsPerInvoke = Bulk)]
    [BenchmarkCategory("bulk")]
    public Task PublishBulk() => _publisher.PublishManyAsync(_bulk);

    /// <summary>
    /// The same XADDs through StackExchange.Redis directly, for reference: as many in flight as the publisher keeps
    /// by default (1024), sent and waited for in chunks of 128 as it does, with one field array for every message.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Bulk)]
    [BenchmarkCategory("bulk")]
    public async Task RawXAddBulk()
    {
        const int InFlight = 1024;
        const int Chunk = 128;
        var db = _redis.Connection.GetDatabase();
        var pending = new Task<RedisValue>[Bulk];
        for (var start = 0; start < Bulk; start += Chunk)
        {
            var end = Math.Min(Bulk, start + Chunk);
            if (end - InFlight > 0)
            {
                await pending[end - InFlight - 1];
            }

            for (var i = start; i < end; i++)
            {
                pending[i] = db.StreamAddAsync("bench:publish", _rawFields);
            }
        }

        await Task.WhenAll(pending);
    }
}
