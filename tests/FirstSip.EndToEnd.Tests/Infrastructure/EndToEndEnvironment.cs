using System.Net;
using System.Security.Cryptography;
using FirstSip.Testing;
using StackExchange.Redis;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>
/// What every end-to-end test shares: a real Redis, a plugin folder (the repository's plugins plus the
/// sidecar's test plugins), stream names under a prefix of their own, a seal key, and one running sidecar
/// with the stub <c>crewai</c> module on its path. Each test gets its own SQLite database.
/// </summary>
public sealed class EndToEndEnvironment : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("firstsip-e2e-").FullName;

    /// <summary>Gets the Redis server.</summary>
    public RedisServer Redis { get; } = new();

    /// <summary>Gets the key that seals per-run secrets.</summary>
    public string SealKey { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>Gets the plugin folder the hosts and the sidecars read.</summary>
    public string PluginDirectory => Path.Combine(_folder, "plugins");

    /// <summary>Gets the streams the shared <see cref="Sidecar"/> serves.</summary>
    public Lane Default { get; private set; } = null!;

    /// <summary>Gets the sidecar that runs throughout the tests, on <see cref="Default"/>.</summary>
    internal ChildProcess? Sidecar { get; private set; }

    /// <summary>Gets the HTTP port of <see cref="Sidecar"/>.</summary>
    public int SidecarPort { get; private set; }

    /// <summary>Creates streams of their own (no sidecar serves them until the test starts one).</summary>
    public Lane NewLane() => new(this, RedisServer.NewPrefix());

    /// <summary>Creates a SQLite database path of the test's own.</summary>
    public string NewDatabase(string name) => Path.Combine(_folder, $"{name}-{Guid.NewGuid():N}.db");

    public async Task InitializeAsync()
    {
        await Redis.InitializeAsync();
        Directory.CreateDirectory(PluginDirectory);
        foreach (var source in new[] { Repository.Plugins, Repository.SidecarTestPlugins })
        {
            foreach (var plugin in Directory.EnumerateDirectories(source))
            {
                // `broken` has a manifest with an unknown key on purpose: the sidecar's own tests cover it.
                if (Path.GetFileName(plugin) != "broken")
                {
                    Directory.CreateSymbolicLink(Path.Combine(PluginDirectory, Path.GetFileName(plugin)), plugin);
                }
            }
        }

        Default = NewLane();
        (Sidecar, SidecarPort) = await Infrastructure.Sidecar.StartAsync("sidecar", Default);
    }

    public async Task DisposeAsync()
    {
        if (Sidecar is not null)
        {
            await Sidecar.DisposeAsync();
        }

        await Redis.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Reads every entry of a stream (for assertions on what went over the wire).</summary>
    public async Task<StreamEntry[]> ReadStreamAsync(string stream) =>
        await Redis.Database.StreamRangeAsync(stream);

    internal static string RedisUrl(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        var (host, port) = options.EndPoints[0] switch
        {
            DnsEndPoint dns => (dns.Host, dns.Port),
            IPEndPoint ip => (ip.Address.ToString(), ip.Port),
            var other => throw new InvalidOperationException($"unsupported Redis endpoint {other}"),
        };
        var credentials = options.Password is { Length: > 0 } password
            ? $"{Uri.EscapeDataString(options.User ?? "default")}:{Uri.EscapeDataString(password)}@"
            : string.Empty;
        return $"{(options.Ssl ? "rediss" : "redis")}://{credentials}{host}:{(port == 0 ? 6379 : port)}";
    }
}

/// <summary>Streams and keys under one prefix, with the environments of the processes that use them.</summary>
public sealed class Lane(EndToEndEnvironment environment, string prefix)
{
    public EndToEndEnvironment Environment => environment;

    public string Prefix => prefix;

    public string RequestsStream => prefix + "plugin:requests";

    public string ResultsStream => prefix + "plugin:results";

    public string EventsStream => prefix + "plugin:events";

    /// <summary>Gets the environment of a sidecar process.</summary>
    public IReadOnlyDictionary<string, string?> SidecarVariables => new Dictionary<string, string?>
    {
        ["REDIS_URL"] = EndToEndEnvironment.RedisUrl(environment.Redis.ConnectionString),
        ["PLUGIN_DIR"] = environment.PluginDirectory,
        ["PYTHONPATH"] = $"{Repository.Sidecar}:{Repository.CrewAIStub}",
        ["FIRSTSIP_REQUESTS_STREAM"] = RequestsStream,
        ["FIRSTSIP_RESULTS_STREAM"] = ResultsStream,
        ["FIRSTSIP_EVENTS_STREAM"] = EventsStream,
        ["FIRSTSIP_KEY_PREFIX"] = prefix,
        ["FIRSTSIP_SEAL_KEY"] = environment.SealKey,
        ["SIDECAR_CONCURRENCY"] = "4",
        ["SIDECAR_CLAIM_TIMEOUT_SECONDS"] = "3",
        ["SIDECAR_HEARTBEAT_SECONDS"] = "1",
        ["SIDECAR_SHUTDOWN_GRACE_SECONDS"] = "5",
        ["SIDECAR_LOG_LEVEL"] = "INFO",
        // The stub crewai never calls an LLM, but the crew checks that credentials are configured.
        ["OPENAI_API_KEY"] = "test-key-for-the-stub-crewai",
    };

    /// <summary>Gets the environment of a host process (console or web) using <paramref name="database"/>.</summary>
    public IReadOnlyDictionary<string, string?> HostVariables(string database) => new Dictionary<string, string?>
    {
        ["FIRSTSIP_REDIS"] = environment.Redis.ConnectionString,
        ["FIRSTSIP_DB"] = database,
        ["FIRSTSIP_PLUGINS"] = environment.PluginDirectory,
        ["FIRSTSIP_SEAL_KEY"] = environment.SealKey,
        ["FirstSip__Streams__RequestsStream"] = RequestsStream,
        ["FirstSip__Streams__ResultsStream"] = ResultsStream,
        ["FirstSip__Streams__EventsStream"] = EventsStream,
        ["FirstSip__Streams__KeyPrefix"] = prefix,
        ["FirstSip__Runs__DispatchInterval"] = "00:00:00.200",
        ["FirstSip__Runs__ReaperInterval"] = "00:00:00.500",
        ["FirstSip__Runs__WatchPollInterval"] = "00:00:00.200",
        // The tests read the streams to count what the workers did: the hosts' periodic trimming would remove entries.
        ["FirstSip__Streams__TrimInterval"] = "1.00:00:00",
        ["DOTNET_ENVIRONMENT"] = "Production",
    };
}

[CollectionDefinition(Name)]
public sealed class EndToEndCollection : ICollectionFixture<EndToEndEnvironment>
{
    public const string Name = "end-to-end";
}
