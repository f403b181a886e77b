using FirstSip.Streams.Internal;
using FirstSip.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace FirstSip.Streams.Tests.DependencyInjection;

[Collection(RedisCollections.Name)]
public sealed class PluginStreamsServiceCollectionExtensionsTests(RedisServer redis)
{
    [Fact]
    public void CanResolveDefaults()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPluginStreams(o => o.ConnectionString = redis.ConnectionString);
        using var provider = services.BuildServiceProvider();

        Assert.Same(TimeProvider.System, provider.GetRequiredService<TimeProvider>());
        Assert.Equal("plugin:requests", provider.GetRequiredService<IStreamPublisher<PluginRequest>>().StreamName);
        Assert.Equal("plugin:results", provider.GetRequiredService<IStreamPublisher<PluginResult>>().StreamName);
        Assert.Equal("plugin:events", provider.GetRequiredService<IStreamPublisher<PluginEvent>>().StreamName);
        Assert.Same(PluginRequestCodec.Instance, provider.GetRequiredService<IStreamEntryCodec<PluginRequest>>());
        Assert.IsType<StreamTrimmer>(provider.GetRequiredService<IStreamTrimmer>());
        var options = provider.GetRequiredService<IOptions<PluginStreamsOptions>>().Value;
        Assert.Equal("crewai-workers", options.WorkerGroup);
        Assert.Equal("app-workers", options.AppGroup);
        Assert.Equal("firstsip:", options.KeyPrefix);
        Assert.Equal(1_048_576, options.MaxPayloadBytes);
        Assert.Equal(1024, options.PublishMaxInFlight);
        Assert.Null(options.TrimInterval);
    }

    [Fact]
    public void AddPluginStreamsTwice_IsHarmless()
    {
        var services = new ServiceCollection();
        services.AddPluginStreams(o => o.ConnectionString = redis.ConnectionString);
        services.AddPluginStreams();
        services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>();
        services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>(o => o.Concurrency = 7);

        using (var provider = services.BuildServiceProvider())
        {
            var options = provider.GetRequiredService<IOptionsMonitor<StreamReaderOptions>>().Get("results:" + typeof(ProbeHandler<PluginResult>).FullName);
            Assert.Equal(7, options.Concurrency);
            Assert.Equal("plugin:results", options.StreamName);
            Assert.Equal("app-workers", options.GroupName);
        }

        Assert.Single(services, d => d.ServiceType == typeof(IStreamTrimmer));
        Assert.Single(services, d => d.ServiceType == typeof(IConnectionMultiplexer));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(PeriodicStreamTrimmer));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(StaleConsumerSweeper));
        Assert.Single(services, d => d.ServiceType == typeof(IStreamOperations));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationFactory is not null);
    }

    [Fact]
    public void CanBindConfigurationSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FirstSip:Streams:ConnectionString"] = "redis.example:6380,ssl=true,user=app,password=secret",
            ["FirstSip:Streams:RequestsStream"] = "custom:requests",
            ["FirstSip:Streams:WorkerGroup"] = "custom-workers",
            ["FirstSip:Streams:TrimInterval"] = "00:05:00",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPluginStreams(configuration.GetSection("FirstSip:Streams"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<PluginStreamsOptions>>().Value;
        Assert.Equal("custom:requests", options.RequestsStream);
        Assert.Equal("custom-workers", options.WorkerGroup);
        Assert.Equal(TimeSpan.FromMinutes(5), options.TrimInterval);
        Assert.Equal("custom:requests", provider.GetRequiredService<IStreamPublisher<PluginRequest>>().StreamName);
        var parsed = StreamsConnections.BuildConfiguration(options, null)!;
        Assert.True(parsed.Ssl);
        Assert.Equal("app", parsed.User);
        Assert.Equal("secret", parsed.Password);
        Assert.False(parsed.AbortOnConnectFail);
    }

    [Fact]
    public async Task UsesTheHostsMultiplexer_WithoutConnectionString()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(redis.Connection);
        services.AddPluginStreams();
        await using var provider = services.BuildServiceProvider();

        Assert.Same(redis.Connection, provider.GetRequiredService<IConnectionMultiplexer>());
        var validator = provider.GetServices<IValidateOptions<PluginStreamsOptions>>();
        Assert.All(validator, v => Assert.True(v.Validate(Options.DefaultName, new PluginStreamsOptions()).Succeeded));
        var stream = RedisServer.NewPrefix() + "s";
        var id = await provider.GetRequiredService<IStreamPublisher<PluginResult>>().PublishAsync(Results.Completed());
        Assert.NotEmpty(id);
    }

    [Fact]
    public async Task ThrowsAtStart_WhenTheSweeperOrTheEventRetentionIsOutOfRange()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddPluginStreams().ConfigureOperations(o =>
        {
            o.ConsumerSweepInterval = TimeSpan.Zero;
            o.ConsumerIdleTime = TimeSpan.Zero;
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(ex.Failures, f => f.Contains("ConsumerSweepInterval", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("ConsumerIdleTime", StringComparison.Ordinal));

        var events = TestHosts.CreateBuilder(redis, new TestStreams());
        events.Services.Configure<PluginStreamsOptions>(o => o.EventRetention = TimeSpan.FromSeconds(-1));
        using var eventsHost = events.Build();
        var eventsError = await Assert.ThrowsAsync<OptionsValidationException>(() => eventsHost.StartAsync());
        Assert.Contains(eventsError.Failures, f => f.Contains("EventRetention", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThrowsAtStart_WhenNoConnectionConfigured()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddPluginStreams();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("set ConnectionString", ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStart_WhenRenewIntervalNotBelowClaimTimeout()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton(new Probe<PluginResult>());
        builder.Services.AddPluginStreams().AddResultHandler<ProbeHandler<PluginResult>>(o =>
        {
            o.ClaimTimeout = TimeSpan.FromSeconds(5);
            o.RenewInterval = TimeSpan.FromSeconds(5);
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("RenewInterval (00:00:05) must be less than ClaimTimeout (00:00:05)", ex.Message);
        Assert.False(await redis.Database.KeyExistsAsync(streams.Results));
    }

    [Fact]
    public async Task ThrowsAtStart_WhenAnnotationsFail()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton(new Probe<PluginResult>());
        builder.Services.AddPluginStreams().AddStreamReader<PluginResult, ProbeHandler<PluginResult>>("custom", o =>
        {
            o.StreamName = streams.Results;
            o.GroupName = "g";
            o.Concurrency = 0;
        });
        builder.Services.Configure<PluginStreamsOptions>(o => o.MaxPayloadBytes = 0);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("MaxPayloadBytes", ex.Message);
    }

    [Fact]
    public async Task ThrowsAtStart_WhenReaderStreamMissing()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton(new Probe<PluginResult>());
        builder.Services.AddPluginStreams().AddStreamReader<PluginResult, ProbeHandler<PluginResult>>("custom", o => o.Concurrency = 0);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("StreamName", ex.Message);
        Assert.Contains("Concurrency", ex.Message);
    }

    [Fact]
    public async Task AddStreamPublisher_GeneralCodec_PublishesToItsStream()
    {
        var streams = new TestStreams();
        var builder = TestHosts.CreateBuilder(redis, streams);
        builder.Services.AddSingleton<IStreamEntryCodec<Note>>(new JsonStreamEntryCodec<Note>());
        var probe = new Probe<Note>();
        builder.Services.AddSingleton(probe);
        builder.Services.AddPluginStreams()
            .AddStreamPublisher<Note>(streams.Prefix + "notes")
            .AddStreamReader<Note, ProbeHandler<Note>>("notes", o =>
            {
                TestHosts.Fast(o);
                o.StreamName = streams.Prefix + "notes";
                o.GroupName = "note-readers";
            });
        using var host = builder.Build();
        await host.StartAsync();

        var publisher = host.Services.GetRequiredService<IStreamPublisher<Note>>();
        Assert.Same(publisher, host.Services.GetRequiredKeyedService<IStreamPublisher<Note>>(streams.Prefix + "notes"));
        await publisher.PublishAsync(new Note("hello"));
        await Eventually.WaitAsync(() => probe.Handled.Count == 1, "note handled");
        await host.StopAsync();
        Assert.Equal("hello", probe.Handled.Single().Message.Text);
    }

    internal sealed record Note(string Text);
}
