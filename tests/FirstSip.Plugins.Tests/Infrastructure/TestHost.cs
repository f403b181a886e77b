using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Streams;
using FirstSip.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace FirstSip.Plugins.Tests.Infrastructure;

internal sealed class TestHostOptions
{
    public Db Db { get; set; }

    /// <summary>Start the hosted services (dispatcher, reaper, stream readers). Off for tests that drive cycles themselves.</summary>
    public bool Start { get; set; } = true;

    public FakeTimeProvider? Time { get; set; }

    /// <summary>Use the host's own context (<see cref="TestHostDbContext"/>, with briefings) instead of the standalone one.</summary>
    public bool HostContext { get; set; }

    /// <summary>A Redis other than the collection's (e.g. a private one the test stops).</summary>
    public RedisServer? Redis { get; set; }

    public Action<PluginRunStoreOptions>? Store { get; set; }

    public Action<IPluginRunStoreBuilder>? Builder { get; set; }

    public Action<IServiceCollection>? Services { get; set; }

    /// <summary>Reach PostgreSQL through this gate, so the test can cut the database off.</summary>
    public TcpGate? DatabaseGate { get; set; }

    /// <summary>Reuse a database (and stream names) of an earlier host, as an application restart would.</summary>
    public TestHost? SameStoreAs { get; set; }
}

/// <summary>A real host with the run store on a fresh database (SQLite file or PostgreSQL database) and isolated stream names.</summary>
internal sealed class TestHost : IAsyncDisposable
{
    private readonly IHost _host;

    private TestHost(IHost host, string prefix, string connectionString, string? sqliteFile, RedisServer redis)
    {
        _host = host;
        Prefix = prefix;
        ConnectionString = connectionString;
        SqliteFile = sqliteFile;
        Redis = redis;
    }

    public IServiceProvider Services => _host.Services;

    public string Prefix { get; }

    public string RequestsStream => Prefix + "requests";

    public string ResultsStream => Prefix + "results";

    public string EventsStream => Prefix + "events";

    public string ConnectionString { get; }

    public string? SqliteFile { get; }

    public RedisServer Redis { get; }

    public FakeLogCollector Logs => Services.GetFakeLogCollector();

    public RunDispatcher Dispatcher => Services.GetRequiredService<RunDispatcher>();

    public RunReaper Reaper => Services.GetRequiredService<RunReaper>();

    public static async Task<TestHost> CreateAsync(ServersFixture servers, TestPlugins plugins, TestHostOptions options)
    {
        var redis = options.Redis ?? servers.Redis;
        var prefix = options.SameStoreAs?.Prefix ?? RedisServer.NewPrefix();
        string? sqliteFile = null;
        string connectionString;
        if (options.SameStoreAs is { } earlier)
        {
            connectionString = earlier.ConnectionString;
            sqliteFile = earlier.SqliteFile;
        }
        else if (options.Db == Db.Sqlite)
        {
            var folder = Path.Combine(Path.GetTempPath(), "firstsip-plugins-tests");
            Directory.CreateDirectory(folder);
            sqliteFile = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".db");
            connectionString = $"Data Source={sqliteFile}";
        }
        else
        {
            connectionString = servers.Postgres.CreateDatabaseConnectionString();
            if (options.DatabaseGate is { } gate)
            {
                connectionString = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Port = gate.Port }.ConnectionString;
            }
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFakeLogging();
        if (options.Time is not null)
        {
            builder.Services.AddSingleton<TimeProvider>(options.Time);
        }

        builder.Services.AddPluginStreams(o =>
        {
            o.ConnectionString = redis.ConnectionString;
            o.RequestsStream = prefix + "requests";
            o.ResultsStream = prefix + "results";
            o.EventsStream = prefix + "events";
            o.KeyPrefix = prefix;
        });

        void Configure(PluginRunStoreOptions o)
        {
            o.PluginDirectory = plugins.Directory;
            o.DispatchInterval = TimeSpan.FromMilliseconds(100);
            o.ReaperInterval = TimeSpan.FromMilliseconds(200);
            o.WatchPollInterval = TimeSpan.FromMilliseconds(200);
            o.RetryBaseDelay = TimeSpan.FromSeconds(5);
            if (options.Db == Db.Sqlite)
            {
                o.UseSqlite(connectionString);
            }
            else
            {
                o.UseNpgsql(connectionString);
            }

            options.Store?.Invoke(o);
        }

        IPluginRunStoreBuilder store;
        if (options.HostContext)
        {
            builder.Services.AddDbContext<TestHostDbContext>(o =>
            {
                if (options.Db == Db.Sqlite)
                {
                    o.UseSqlite(connectionString);
                }
                else
                {
                    o.UseNpgsql(connectionString);
                }
            });
            store = builder.Services.AddPluginRunStore<TestHostDbContext>(Configure);
        }
        else
        {
            store = builder.Services.AddPluginRunStore(Configure);
        }

        options.Builder?.Invoke(store);
        options.Services?.Invoke(builder.Services);
        var host = builder.Build();
        if (options.HostContext)
        {
            await using var scope = host.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<TestHostDbContext>().Database.EnsureCreatedAsync();
        }
        else
        {
            await host.Services.MigratePluginRunStoreAsync();
        }

        if (options.Start)
        {
            await host.StartAsync();
        }

        return new TestHost(host, prefix, connectionString, sqliteFile, redis);
    }

    public async Task<T> InScopeAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        await using var scope = Services.CreateAsyncScope();
        return await action(scope.ServiceProvider);
    }

    public Task<T> WithRunnerAsync<T>(Func<IPluginRunner, Task<T>> action) =>
        InScopeAsync(sp => action(sp.GetRequiredService<IPluginRunner>()));

    public Task<PluginRun> StartRunAsync(StartPluginRunRequest request) => WithRunnerAsync(r => r.StartAsync(request));

    public Task<PluginRun> StartRunAsync(string plugin = "echo", string user = "42", string? settingsJson = """{"topics":["ai"]}""", int? maxAttempts = null) =>
        StartRunAsync(new StartPluginRunRequest
        {
            PluginName = plugin,
            UserId = user,
            Settings = settingsJson is null ? null : System.Text.Json.Nodes.JsonNode.Parse(settingsJson)!.AsObject(),
            MaxAttempts = maxAttempts,
        });

    public Task<PluginRun?> GetAsync(Guid runId) => WithRunnerAsync(r => r.GetAsync(runId));

    public async Task<PluginRun> GetRequiredAsync(Guid runId) => await GetAsync(runId) ?? throw new InvalidOperationException($"run {runId} not found");

    public Task<ResultOutcome> ApplyAsync(PluginResult result) =>
        InScopeAsync(sp => sp.GetRequiredService<RunResultApplier>().ApplyAsync(result, CancellationToken.None));

    private long _eventSequence;

    /// <summary>Handles an event as the event reader would, with an entry id of its own (ids are unique on a stream).</summary>
    public Task HandleEventAsync(PluginEvent evt) =>
        InScopeAsync(async sp =>
        {
            var handler = ActivatorUtilities.CreateInstance<RunEventHandler>(sp);
            var id = $"0-{Interlocked.Increment(ref _eventSequence)}";
            await handler.HandleAsync(new StreamMessage<PluginEvent> { Id = id, StreamName = EventsStream, Message = evt }, CancellationToken.None);
            return true;
        });

    public Task HandleResultDeadLetterAsync(DeadLetteredEntry entry) =>
        InScopeAsync(async sp =>
        {
            var handler = ActivatorUtilities.CreateInstance<RunResultHandler>(sp);
            await handler.OnDeadLetteredAsync(entry, CancellationToken.None);
            return true;
        });

    /// <summary>Changes a run row directly (test setup), bumping nothing.</summary>
    public Task UpdateRunAsync(Guid runId, Action<PluginRun> change) =>
        InScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<RunDbContextAccessor>();
            var run = await db.Runs.SingleAsync(r => r.RunId == runId);
            change(run);
            await db.Context.SaveChangesAsync();
            return true;
        });

    /// <summary>Inserts a run row directly (test setup).</summary>
    public Task InsertRunAsync(PluginRun run) =>
        InScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<RunDbContextAccessor>();
            db.Runs.Add(run);
            await db.Context.SaveChangesAsync();
            return true;
        });

    /// <summary>Acts as a worker: reads new request entries with the worker group until <paramref name="count"/> arrived.</summary>
    public async Task<List<(string Id, PluginRequest Request, NameValueEntry[] Fields)>> ReadRequestsAsync(int count, TimeSpan? timeout = null)
    {
        var database = Redis.Connection.GetDatabase();
        try
        {
            await database.StreamCreateConsumerGroupAsync(RequestsStream, "crewai-workers", "0-0", createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }

        var found = new List<(string, PluginRequest, NameValueEntry[])>();
        await Eventually.UntilAsync(async () =>
        {
            var entries = await database.StreamReadGroupAsync(RequestsStream, "crewai-workers", "test-worker", ">", count - found.Count);
            foreach (var entry in entries)
            {
                var decoded = PluginRequestCodec.Instance.Decode(entry.Values);
                Assert.False(decoded.IsPoison, decoded.PoisonReason);
                found.Add((entry.Id!, decoded.Message!, entry.Values));
            }

            return found.Count >= count;
        }, timeout ?? TimeSpan.FromSeconds(30), $"{count} requests on {RequestsStream}");
        return found;
    }

    public async Task<StreamEntry[]> RangeAsync(string stream) => await Redis.Connection.GetDatabase().StreamRangeAsync(stream);

    public Task PublishResultAsync(PluginResult result) => Services.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(result);

    public Task PublishEventAsync(PluginEvent evt) => Services.GetRequiredService<IStreamPublisher<PluginEvent>>().PublishAsync(evt);

    public bool KeepDatabase { get; set; }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            _host.Dispose();
            if (SqliteFile is null)
            {
                // Each test has its own PostgreSQL database: close its pooled connections.
                using var pooled = new Npgsql.NpgsqlConnection(ConnectionString);
                Npgsql.NpgsqlConnection.ClearPool(pooled);
            }

            if (SqliteFile is not null && !KeepDatabase)
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                foreach (var file in new[] { SqliteFile, SqliteFile + "-wal", SqliteFile + "-shm" })
                {
                    try
                    {
                        File.Delete(file);
                    }
                    catch (IOException)
                    {
                    }
                }
            }
        }
    }
}

/// <summary>Waits on a condition with a generous timeout (never a timed assertion).</summary>
public static class Eventually
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"gave up waiting for {what} after {timeout}");
            }

            await Task.Delay(50);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what);
}
