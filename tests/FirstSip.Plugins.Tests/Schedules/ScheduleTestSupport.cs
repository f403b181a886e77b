using FirstSip.Plugins.Internal.Schedules;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FirstSip.Plugins.Tests.Schedules;

/// <summary>Helpers of the schedule tests: hosts that do not start their loops, a fake clock, and shortcuts to the API.</summary>
internal static class ScheduleTestSupport
{
    public static FakeTimeProvider Clock(DateTimeOffset? start = null) => new(start ?? new DateTimeOffset(2026, 3, 2, 8, 0, 30, TimeSpan.Zero));

    public static Task<TestHost> HostAsync(
        ServersFixture servers,
        TestPlugins plugins,
        Db db,
        FakeTimeProvider time,
        TestHost? sameStoreAs = null,
        Action<PluginSchedulerOptions>? scheduler = null) =>
        TestHost.CreateAsync(servers, plugins, new TestHostOptions
        {
            Db = db,
            Start = false,
            Time = time,
            SameStoreAs = sameStoreAs,
            Builder = b => b.ConfigureScheduler(o => scheduler?.Invoke(o)),
        });

    public static ScheduleFirer Firer(this TestHost host) => host.Services.GetRequiredService<ScheduleFirer>();

    public static Task<int> FireAsync(this TestHost host) => host.Firer().FireDueOnceAsync(CancellationToken.None);

    public static Task<T> WithSchedulerAsync<T>(this TestHost host, Func<IPluginScheduler, Task<T>> action) =>
        host.InScopeAsync(sp => action(sp.GetRequiredService<IPluginScheduler>()));

    public static Task<PluginSchedule> CreateScheduleAsync(
        this TestHost host,
        string cron,
        string zone = "UTC",
        PluginScheduleMisfirePolicy misfire = PluginScheduleMisfirePolicy.RunOnce,
        PluginScheduleOverlapPolicy overlap = PluginScheduleOverlapPolicy.Allow,
        int cap = 10,
        string user = "42",
        string plugin = "echo") =>
        host.WithSchedulerAsync(s => s.CreateAsync(new CreatePluginScheduleRequest
        {
            PluginName = plugin,
            UserId = user,
            Settings = System.Text.Json.Nodes.JsonNode.Parse("""{"topics":["ai"]}""")!.AsObject(),
            CronExpression = cron,
            TimeZone = zone,
            MisfirePolicy = misfire,
            OverlapPolicy = overlap,
            MaxMisfireRuns = cap,
        }));

    public static async Task<PluginSchedule> GetScheduleAsync(this TestHost host, Guid scheduleId) =>
        await host.WithSchedulerAsync(s => s.GetAsync(scheduleId)) ?? throw new InvalidOperationException($"schedule {scheduleId} not found");

    /// <summary>The runs of a user, oldest first.</summary>
    public static async Task<List<PluginRun>> RunsAsync(this TestHost host, string user = "42")
    {
        var page = await host.WithRunnerAsync(r => r.ListAsync(new PluginRunQuery { UserId = user, Take = 1000 }));
        return page.Items.OrderBy(r => r.CreatedAt).ThenBy(r => r.RunId).ToList();
    }

    /// <summary>The occurrence (UTC) a scheduled run was started for, read from its idempotency key.</summary>
    public static DateTimeOffset OccurrenceOf(PluginRun run)
    {
        var key = run.IdempotencyKey ?? throw new InvalidOperationException($"run {run.RunId} has no idempotency key");
        var text = key[(key.LastIndexOf(':') + 1)..];
        return DateTimeOffset.ParseExact(text, "yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal);
    }

    public static DateTimeOffset Utc(int year, int month, int day, int hour, int minute) => new(year, month, day, hour, minute, 0, TimeSpan.Zero);
}
