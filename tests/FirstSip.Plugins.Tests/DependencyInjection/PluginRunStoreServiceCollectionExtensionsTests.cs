using FirstSip.Plugins.Internal.Catalog;
using FirstSip.Plugins.Internal.Dispatch;
using FirstSip.Plugins.Internal.Runs;
using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Tests.DependencyInjection;

public sealed class PluginRunStoreServiceCollectionExtensionsTests
{
    private static ServiceCollection Services()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        return services;
    }

    [Fact]
    public void CanResolveTheRunnerCatalogAndStandaloneContext()
    {
        var services = Services();
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.IsType<PluginRunner>(scope.ServiceProvider.GetRequiredService<IPluginRunner>());
        Assert.IsType<PluginCatalog>(provider.GetRequiredService<IPluginCatalog>());
        Assert.IsType<SqlitePluginRunDbContext>(scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context);
        Assert.Equal(PluginRunStoreProvider.Sqlite, provider.GetRequiredService<IOptions<PluginRunStoreOptions>>().Value.Provider);
    }

    [Fact]
    public void CanUseNpgsqlForTheStandaloneContext()
    {
        var services = Services();
        services.AddPluginRunStore(o => o.UseNpgsql("Host=127.0.0.1;Database=x"));
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.IsType<NpgsqlPluginRunDbContext>(scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context);
    }

    [Fact]
    public void CanUseTheHostsOwnContext()
    {
        var services = Services();
        services.AddDbContext<TestHostDbContext>(o => Microsoft.EntityFrameworkCore.SqliteDbContextOptionsBuilderExtensions.UseSqlite(o, "Data Source=:memory:"));
        services.AddPluginRunStore<TestHostDbContext>();
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.Same(scope.ServiceProvider.GetRequiredService<TestHostDbContext>(), scope.ServiceProvider.GetRequiredService<RunDbContextAccessor>().Context);
    }

    [Fact]
    public void CanBindOptionsFromConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Runs:Provider"] = "Npgsql",
            ["Runs:ConnectionString"] = "Host=db;Database=runs",
            ["Runs:PluginDirectory"] = "/srv/plugins",
            ["Runs:DispatchBatchSize"] = "7",
            ["Runs:DefaultTimeout"] = "00:02:00",
            ["Runs:DefaultMaxAttempts"] = "5",
        }).Build();
        var services = Services();
        services.AddPluginRunStore(configuration.GetSection("Runs"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<PluginRunStoreOptions>>().Value;
        Assert.Equal(PluginRunStoreProvider.Npgsql, options.Provider);
        Assert.Equal("Host=db;Database=runs", options.ConnectionString);
        Assert.Equal("/srv/plugins", options.PluginDirectory);
        Assert.Equal(7, options.DispatchBatchSize);
        Assert.Equal(TimeSpan.FromMinutes(2), options.DefaultTimeout);
        Assert.Equal(5, options.DefaultMaxAttempts);
    }

    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new PluginRunStoreOptions();

        Assert.Equal("plugins", options.PluginDirectory);
        Assert.Equal(TimeSpan.FromMinutes(5), options.DefaultTimeout);
        Assert.Equal(3, options.DefaultMaxAttempts);
        Assert.Null(options.DefaultQueueTimeout);
        Assert.Null(options.DefaultDeadline);
        Assert.Equal(TimeSpan.FromMinutes(1), options.LostRequestCheckInterval);
        Assert.Equal(10, options.MaxDispatchFailures);
        Assert.Equal(TimeSpan.FromSeconds(30), options.DeadlineGracePeriod);
        Assert.Equal(TimeSpan.FromSeconds(5), options.RetryBaseDelay);
        Assert.Equal(TimeSpan.FromMinutes(5), options.RetryMaxDelay);
        Assert.Equal(100, options.DispatchBatchSize);
        Assert.Equal(TimeSpan.FromSeconds(1), options.DispatchInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ReaperInterval);
        Assert.Equal(TimeSpan.FromMinutes(30), options.DefaultIdempotencyWindow);
        Assert.Null(options.SealKey);
    }

    [Fact]
    public void ConfigureReaders_AppliesToTheResultAndEventReaders()
    {
        var services = Services();
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"))
            .ConfigureReaders(o =>
            {
                o.Concurrency = 3;
                o.ClaimTimeout = TimeSpan.FromSeconds(7);
                o.RenewInterval = TimeSpan.FromSeconds(2);
            });
        using var provider = services.BuildServiceProvider();

        var monitor = provider.GetRequiredService<IOptionsMonitor<FirstSip.Streams.StreamReaderOptions>>();
        var results = monitor.Get("results:" + typeof(RunResultHandler).FullName);
        var events = monitor.Get("events:" + typeof(RunEventHandler).FullName);
        Assert.Equal(3, results.Concurrency);
        Assert.Equal(TimeSpan.FromSeconds(7), events.ClaimTimeout);
        Assert.Equal("plugin:results", results.StreamName);
        Assert.Equal("plugin:events", events.StreamName);
        Assert.Equal("app-workers", results.GroupName);
        Assert.Equal(2, provider.GetServices<IHostedService>().Count(h => h.GetType().Name.StartsWith("StreamReaderService", StringComparison.Ordinal)));
    }

    [Fact]
    public void AddingTwice_IsHarmless()
    {
        var services = Services();
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        services.AddPluginRunStore(o => o.DispatchBatchSize = 9);
        using var provider = services.BuildServiceProvider();

        var hosted = provider.GetServices<IHostedService>().ToList();
        Assert.Single(hosted, h => h is RunDispatcher);
        Assert.Single(hosted, h => h is RunReaper);
        Assert.Equal(9, provider.GetRequiredService<IOptions<PluginRunStoreOptions>>().Value.DispatchBatchSize);
    }

    [Fact]
    public void AddSecretsProvider_ReplacesAnEarlierOne_AndCompletionHandlersAccumulate()
    {
        var services = Services();
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"))
            .AddSecretsProvider<NoSecrets>()
            .AddSecretsProvider<OtherSecrets>()
            .AddCompletionHandler<NoopHandler>()
            .AddCompletionHandler<OtherHandler>()
            .AddCompletionHandler<NoopHandler>();
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.IsType<OtherSecrets>(scope.ServiceProvider.GetRequiredService<IPluginSecretsProvider>());
        Assert.Equal(2, scope.ServiceProvider.GetServices<IPluginRunCompletionHandler>().Count());
    }

    [Theory]
    [InlineData("not-base64", "SealKey must be the base64 text of exactly 32 bytes")]
    [InlineData("AAAA", "SealKey must be the base64 text of exactly 32 bytes")]
    public async Task ThrowsAtStartWhenTheSealKeyIsInvalid(string key, string message)
    {
        var ex = await StartFailsAsync(o => o.SealKey = key);
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStartWhenOptionsAreOutOfRange()
    {
        var ex = await StartFailsAsync(o =>
        {
            o.DispatchBatchSize = 0;
            o.DefaultMaxAttempts = 0;
        });

        Assert.Contains(nameof(PluginRunStoreOptions.DispatchBatchSize), ex.Message);
        Assert.Contains(nameof(PluginRunStoreOptions.DefaultMaxAttempts), ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStartWithoutAConnectionString()
    {
        var ex = await StartFailsAsync(o => o.ConnectionString = null);
        Assert.Contains("ConnectionString is required", ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStartWhenTheRetryCapIsBelowTheBase()
    {
        var ex = await StartFailsAsync(o =>
        {
            o.RetryBaseDelay = TimeSpan.FromMinutes(1);
            o.RetryMaxDelay = TimeSpan.FromSeconds(1);
        });
        Assert.Contains("RetryMaxDelay", ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStart_WhenTheRunRetentionIsNotPositive()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        builder.Services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        builder.Services.Configure<PluginOperationsOptions>(o =>
        {
            o.TerminalRunRetention = TimeSpan.Zero;
            o.RetentionInterval = TimeSpan.Zero;
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("TerminalRunRetention", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RetentionInterval", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CanResolveTheOperationsApi_AsScoped()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.Equal("PluginOperations", scope.ServiceProvider.GetRequiredService<IPluginOperations>().GetType().Name);
        Assert.Single(services, d => d.ServiceType == typeof(IPluginOperations) && d.Lifetime == ServiceLifetime.Scoped);
    }

    private static async Task<OptionsValidationException> StartFailsAsync(Action<PluginRunStoreOptions> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        builder.Services.AddPluginRunStore(o =>
        {
            o.UseSqlite("Data Source=:memory:");
            configure(o);
        });
        using var host = builder.Build();
        return await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
    }

    private sealed class NoSecrets : IPluginSecretsProvider
    {
        public ValueTask<IReadOnlyDictionary<string, string>?> GetSecretsAsync(PluginRun run, CancellationToken cancellationToken) => ValueTask.FromResult<IReadOnlyDictionary<string, string>?>(null);
    }

    private sealed class OtherSecrets : IPluginSecretsProvider
    {
        public ValueTask<IReadOnlyDictionary<string, string>?> GetSecretsAsync(PluginRun run, CancellationToken cancellationToken) => ValueTask.FromResult<IReadOnlyDictionary<string, string>?>(null);
    }

    private sealed class NoopHandler : IPluginRunCompletionHandler
    {
        public Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class OtherHandler : IPluginRunCompletionHandler
    {
        public Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
