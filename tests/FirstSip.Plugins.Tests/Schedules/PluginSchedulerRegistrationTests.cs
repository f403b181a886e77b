using FirstSip.Plugins.Internal.Schedules;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Tests.Schedules;

public sealed class PluginSchedulerRegistrationTests
{
    [Fact]
    public void CanResolveTheSchedulerApiAndTheHostedScheduler_WithTheDocumentedDefaults()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:"));
        services.AddPluginRunStore(o => o.DispatchBatchSize = 9);
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        Assert.IsType<PluginScheduler>(scope.ServiceProvider.GetRequiredService<IPluginScheduler>());
        Assert.Single(provider.GetServices<IHostedService>().OfType<ScheduleFirer>());
        var options = provider.GetRequiredService<IOptions<PluginSchedulerOptions>>().Value;
        Assert.True(options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(5), options.PollInterval);
        Assert.Equal(100, options.BatchSize);
        Assert.Equal(TimeSpan.FromMinutes(1), options.MisfireThreshold);
    }

    [Fact]
    public async Task BadSchedulerOptions_StopTheHostAtStart()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        builder.Services.AddPluginRunStore(o => o.UseSqlite("Data Source=:memory:")).ConfigureScheduler(o => o.BatchSize = 0);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("BatchSize", ex.Message);
    }

    [Fact]
    public async Task HostContextWithoutSchedules_LeavesTheSchedulerIdle_AndTheApiSaysWhatToAdd()
    {
        var file = Path.Combine(Path.GetTempPath(), $"firstsip-noschedules-{Guid.NewGuid():N}.db");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddFakeLogging();
        builder.Services.AddPluginStreams(o => o.ConnectionString = "127.0.0.1:1,abortConnect=false");
        builder.Services.AddDbContext<TestHostDbContext>(o => o.UseSqlite($"Data Source={file}"));
        builder.Services.AddPluginRunStore<TestHostDbContext>(o => o.PluginDirectory = Path.GetTempPath());
        using var host = builder.Build();
        var firer = host.Services.GetRequiredService<ScheduleFirer>();
        await firer.StartAsync(CancellationToken.None);
        await firer.ExecuteTask!;

        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == FirstSip.Plugins.Internal.Log.SchedulerIdleId);
        await using var scope = host.Services.CreateAsyncScope();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => scope.ServiceProvider.GetRequiredService<IPluginScheduler>().GetAsync(Guid.NewGuid()));
        Assert.Contains("AddPluginSchedules", ex.Message);
    }
}
