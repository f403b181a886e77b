using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace FirstSip.Plugins.Tests.Health;

[Collection(ServersCollectionDefinition.Name)]
public sealed class PendingRunsHealthCheckTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CheckHealth_RunPendingLongerThanTheThreshold_IsUnhealthyAndSaysWhatToStart(Db db)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            Services = s => s.AddHealthChecks().AddPluginRunStore(pendingThreshold: TimeSpan.FromMinutes(1), tags: ["ready"]),
        });
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartRunAsync();

        var fresh = await health.CheckHealthAsync();
        time.Advance(TimeSpan.FromMinutes(2));
        var stale = await health.CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, fresh.Entries["firstsip-runs"].Status);
        var entry = stale.Entries["firstsip-runs"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal(1, entry.Data["pending_too_long"]);
        Assert.Contains("start a host that runs the app side", entry.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task CheckHealth_DispatchedRunsWaitingForAWorker_AreNotAFault(Db db)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            Services = s => s.AddHealthChecks().AddPluginRunStore(failureStatus: HealthStatus.Degraded),
        });
        await host.StartRunAsync();
        await host.Dispatcher.DispatchOnceAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromHours(1));

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
    }

    [Fact]
    public void AddPluginRunStore_NonPositiveThreshold_Throws()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddHealthChecks().AddPluginRunStore(pendingThreshold: TimeSpan.Zero));
    }
}
