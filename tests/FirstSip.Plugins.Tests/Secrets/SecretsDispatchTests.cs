using System.Security.Cryptography;
using System.Text;
using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Secrets;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using FirstSip.Streams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Secrets;

[Collection(ServersCollectionDefinition.Name)]
public sealed class SecretsDispatchTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Secret_PassedThroughARun_IsSealed_AndNeverInTheDatabaseLogsOrStreams(Db db)
    {
        var secret = "sk-" + Guid.NewGuid().ToString("N");
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Store = o => o.SealKey = Convert.ToBase64String(_key),
            Builder = b => b.AddSecretsProvider<FixedSecretsProvider>(),
            Services = s => s.AddSingleton(new FixedSecretsProvider.Values(new Dictionary<string, string> { ["OPENAI_API_KEY"] = secret })),
        });

        var run = await host.StartRunAsync();
        var (_, request, fields) = Assert.Single(await host.ReadRequestsAsync(1));

        Assert.NotNull(request.Secrets);
        Assert.Equal(secret, SecretSealer.Open(_key, run.RunId.ToString("D"), request.Secrets!)["OPENAI_API_KEY"]);
        Assert.Contains(fields, f => f.Name == "secrets");

        await host.PublishEventAsync(new PluginEvent { PluginRunId = run.RunId, Kind = PluginEventKind.Started, At = DateTimeOffset.UtcNow });
        await host.PublishResultAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"ok","sections":[]}""" });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var finished = await host.WithRunnerAsync(r => r.WaitAsync(run.RunId, timeout.Token));
        Assert.Equal(PluginRunStatus.Completed, finished.Status);

        // The database: every column of every row, and for SQLite the files themselves.
        var rows = await host.InScopeAsync(async sp =>
        {
            var runs = await sp.GetRequiredService<RunDbContextAccessor>().Runs.AsNoTracking().ToListAsync();
            return string.Join("\n", runs.Select(r => System.Text.Json.JsonSerializer.Serialize(r)));
        });
        Assert.DoesNotContain(secret, rows);
        if (host.SqliteFile is not null)
        {
            foreach (var file in new[] { host.SqliteFile, host.SqliteFile + "-wal" }.Where(File.Exists))
            {
                var bytes = await ReadSharedAsync(file);
                Assert.False(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"secret found in {file}");
            }
        }

        // The logs captured by the test (messages, state and exceptions at every level).
        var logs = host.Logs.GetSnapshot();
        Assert.NotEmpty(logs);
        foreach (var record in logs)
        {
            Assert.DoesNotContain(secret, record.Message);
            Assert.DoesNotContain(secret, record.Exception?.ToString() ?? "");
            foreach (var pair in record.StructuredState ?? [])
            {
                Assert.DoesNotContain(secret, pair.Value ?? "");
            }
        }

        // Every stream entry the run produced.
        foreach (var stream in new[] { host.RequestsStream, host.ResultsStream, host.EventsStream })
        {
            foreach (var entry in await host.RangeAsync(stream))
            {
                foreach (var field in entry.Values)
                {
                    Assert.DoesNotContain(secret, field.Value.ToString());
                }
            }
        }
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Secrets_WithoutASealKey_FailTheRun_AndNothingIsPublished(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Builder = b => b.AddSecretsProvider<FixedSecretsProvider>(),
            Services = s => s.AddSingleton(new FixedSecretsProvider.Values(new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-plain" })),
        });
        var run = await host.StartRunAsync();

        var cycle = await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        Assert.Equal((1, 0, 0), cycle);
        var failed = await host.GetRequiredAsync(run.RunId);
        Assert.Equal(PluginRunStatus.Failed, failed.Status);
        Assert.Equal(RunDispatcher.SecretsWithoutKeyError, failed.Error);
        Assert.Empty(await host.RangeAsync(host.RequestsStream));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    public async Task NoSecrets_NoSecretsField(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });
        await host.StartRunAsync();

        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);

        var (_, request, fields) = Assert.Single(await host.ReadRequestsAsync(1));
        Assert.Null(request.Secrets);
        Assert.DoesNotContain(fields, f => f.Name == "secrets");
    }

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory);
        return memory.ToArray();
    }
}

internal sealed class FixedSecretsProvider(FixedSecretsProvider.Values values) : IPluginSecretsProvider
{
    public ValueTask<IReadOnlyDictionary<string, string>?> GetSecretsAsync(PluginRun run, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyDictionary<string, string>?>(values.Secrets);

    internal sealed class Values(IReadOnlyDictionary<string, string> secrets)
    {
        public IReadOnlyDictionary<string, string> Secrets { get; } = secrets;
    }
}
