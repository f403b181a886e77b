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

        await AssertNowhereInTheClearAsync(host, secret);
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
    [InlineData(Db.Postgres)]
    public async Task CredentialSettingsAndPerRunSecrets_AreSealedAtStart_MergedOverTheProvidersAtDispatch_AndNeverInTheClear(Db db)
    {
        var llmKey = "sk-llm-" + Guid.NewGuid().ToString("N");
        var tavilyKey = "tvly-" + Guid.NewGuid().ToString("N");
        var typedKey = "typed-" + Guid.NewGuid().ToString("N");
        var providerKey = "sk-provider-" + Guid.NewGuid().ToString("N");
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Store = o => o.SealKey = Convert.ToBase64String(_key),
            Builder = b => b.AddSecretsProvider<FixedSecretsProvider>(),
            Services = s => s.AddSingleton(new FixedSecretsProvider.Values(new Dictionary<string, string>
            {
                ["OPENAI_API_KEY"] = providerKey,
                ["_tavily_api_key"] = "the provider's, overridden by the run's own",
            })),
        });

        // As the original system sent them: credentials among the settings (the echo schema allows no other keys).
        var run = await host.StartRunAsync(new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "42",
            Settings = System.Text.Json.Nodes.JsonNode.Parse($$"""{"topics":["ai"],"_llm_api_key":"{{llmKey}}","_tavily_api_key":"{{tavilyKey}}"}""")!.AsObject(),
            Secrets = new Dictionary<string, string> { ["TYPED_KEY"] = typedKey },
        });

        Assert.Equal("""{"summary_length":"brief","count":3,"topics":["ai"]}""", run.Settings);
        Assert.NotNull(run.SealedSecrets);
        var stored = SecretSealer.Open(_key, run.RunId.ToString("D"), run.SealedSecrets!);
        Assert.Equal(new Dictionary<string, string> { ["_llm_api_key"] = llmKey, ["_tavily_api_key"] = tavilyKey, ["TYPED_KEY"] = typedKey }, stored);

        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        var (_, request, _) = Assert.Single(await host.ReadRequestsAsync(1));
        var sent = SecretSealer.Open(_key, run.RunId.ToString("D"), request.Secrets!);
        Assert.Equal(
            new Dictionary<string, string> { ["OPENAI_API_KEY"] = providerKey, ["_llm_api_key"] = llmKey, ["_tavily_api_key"] = tavilyKey, ["TYPED_KEY"] = typedKey },
            sent);
        Assert.DoesNotContain("_llm_api_key", request.Settings.GetRawText());

        await host.ApplyAsync(new PluginResult { PluginRunId = run.RunId, Status = PluginResultStatus.Completed, Output = """{"summary":"ok","sections":[]}""" });
        Assert.Equal(PluginRunStatus.Completed, (await host.GetRequiredAsync(run.RunId)).Status);
        foreach (var secret in new[] { llmKey, tavilyKey, typedKey, providerKey })
        {
            await AssertNowhereInTheClearAsync(host, secret);
        }
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CredentialSettings_WithoutASealKey_FailTheStart_AndNothingIsWritten(Db db)
    {
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false });

        var ex = await Assert.ThrowsAsync<PluginSecretsException>(() => host.StartRunAsync(new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "42",
            Settings = System.Text.Json.Nodes.JsonNode.Parse("""{"topics":["ai"],"_llm_api_key":"sk-never-stored-anywhere"}""")!.AsObject(),
        }));
        Assert.Equal("echo", ex.PluginName);
        Assert.Contains("no seal key is configured", ex.Message);
        Assert.DoesNotContain("sk-never-stored-anywhere", ex.Message);
        await Assert.ThrowsAsync<PluginSecretsException>(() => host.StartRunAsync(new StartPluginRunRequest
        {
            PluginName = "echo",
            UserId = "42",
            Settings = System.Text.Json.Nodes.JsonNode.Parse("""{"topics":["ai"]}""")!.AsObject(),
            Secrets = new Dictionary<string, string> { ["TYPED_KEY"] = "typed-secret" },
        }));
        var page = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery()));
        Assert.Equal(0, page.TotalCount);
    }

    [Fact]
    public void RunCredentials_MovesUndeclaredUnderscoreKeys_AndKeepsDeclaredOnes()
    {
        var settings = System.Text.Json.Nodes.JsonNode.Parse("""{"topics":["ai"],"_llm_api_key":"k1","_llm_model":"openai/gpt-4o-mini","_n":5,"_none":null}""")!.AsObject();

        var (kept, credentials) = RunCredentials.Split(settings, """{"properties":{"topics":{},"_llm_model":{}}}""");

        Assert.Equal("""{"topics":["ai"],"_llm_model":"openai/gpt-4o-mini"}""", kept!.ToJsonString());
        Assert.Equal(new Dictionary<string, string> { ["_llm_api_key"] = "k1", ["_n"] = "5" }, credentials);
        Assert.Contains("_llm_api_key", settings.Select(p => p.Key));
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

    /// <summary>Checks a secret is in no column of any row (for SQLite, not in the files either), no log record and no stream entry.</summary>
    internal static async Task AssertNowhereInTheClearAsync(TestHost host, string secret)
    {
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
