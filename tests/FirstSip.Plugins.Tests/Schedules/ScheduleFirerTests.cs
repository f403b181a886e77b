using FirstSip.Plugins.Internal;
using FirstSip.Plugins.Internal.Schedules;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static FirstSip.Plugins.Tests.Schedules.ScheduleTestSupport;

namespace FirstSip.Plugins.Tests.Schedules;

[Collection(ServersCollectionDefinition.Name)]
public sealed class ScheduleFirerTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TwoSchedulers_OnOneDatabase_FireEachOccurrenceOnce(Db db)
    {
        var timeA = Clock();
        var timeB = Clock();
        await using var a = await HostAsync(servers, _plugins, db, timeA);
        await using var b = await HostAsync(servers, _plugins, db, timeB, sameStoreAs: a);
        var schedules = new List<PluginSchedule>();
        for (var i = 0; i < 10; i++)
        {
            schedules.Add(await a.CreateScheduleAsync("* * * * *", user: "42"));
        }

        var started = 0;
        for (var minute = 0; minute < 4; minute++)
        {
            timeA.Advance(TimeSpan.FromMinutes(1));
            timeB.Advance(TimeSpan.FromMinutes(1));
            var fired = await Task.WhenAll(Task.Run(() => a.FireAsync()), Task.Run(() => b.FireAsync()), Task.Run(() => a.FireAsync()), Task.Run(() => b.FireAsync()));
            started += fired.Sum();
        }

        var runs = await a.RunsAsync();
        Assert.Equal(40, started);
        Assert.Equal(40, runs.Count);
        // Each schedule fired each of its four occurrences once: 08:01, 08:02, 08:03 and 08:04.
        var expected = Enumerable.Range(1, 4).Select(m => Utc(2026, 3, 2, 8, m)).ToList();
        Assert.All(runs.GroupBy(r => r.IdempotencyKey![..(r.IdempotencyKey!.LastIndexOf(':'))]), g => Assert.Equal(expected, g.Select(OccurrenceOf).Order()));
        foreach (var schedule in schedules)
        {
            var stored = await a.GetScheduleAsync(schedule.ScheduleId);
            Assert.Equal(Utc(2026, 3, 2, 8, 5), stored.NextFireAt);
            Assert.Equal(Utc(2026, 3, 2, 8, 4), stored.LastFireAt);
            Assert.Contains(runs, r => r.RunId == stored.LastRunId);
        }
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task TwoSchedulers_WithAHostsOwnRunner_ClaimEachScheduleOnItsOwn_AndFireEachOccurrenceOnce(Db db)
    {
        // A runner the host wraps (here: counting starts) is used as it is: each schedule is claimed and started on its own.
        var timeA = Clock();
        var timeB = Clock();
        var starts = 0;
        void Wrap(IServiceCollection services) => services.AddScoped<IPluginRunner>(sp =>
            new CountingRunner(ActivatorUtilities.CreateInstance<Internal.Runs.PluginRunner>(sp), () => Interlocked.Increment(ref starts)));
        await using var a = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false, Time = timeA, Services = Wrap });
        await using var b = await TestHost.CreateAsync(servers, _plugins, new TestHostOptions { Db = db, Start = false, Time = timeB, Services = Wrap, SameStoreAs = a });
        for (var i = 0; i < 5; i++)
        {
            await a.CreateScheduleAsync("* * * * *");
        }

        for (var minute = 0; minute < 3; minute++)
        {
            timeA.Advance(TimeSpan.FromMinutes(1));
            timeB.Advance(TimeSpan.FromMinutes(1));
            await Task.WhenAll(Task.Run(() => a.FireAsync()), Task.Run(() => b.FireAsync()));
        }

        var runs = await a.RunsAsync();
        Assert.Equal(15, runs.Count);
        Assert.Equal(15, runs.Select(r => r.IdempotencyKey).Distinct().Count());
        Assert.Equal(15, starts);
    }

    private sealed class CountingRunner(IPluginRunner inner, Action started) : IPluginRunner
    {
        public async Task<PluginRun> StartAsync(StartPluginRunRequest request, CancellationToken cancellationToken = default)
        {
            var run = await inner.StartAsync(request, cancellationToken);
            started();
            return run;
        }

        public Task<PluginRun?> GetAsync(Guid runId, CancellationToken cancellationToken = default) => inner.GetAsync(runId, cancellationToken);

        public Task<PluginRunPage> ListAsync(PluginRunQuery query, CancellationToken cancellationToken = default) => inner.ListAsync(query, cancellationToken);

        public Task<PluginRun> WaitAsync(Guid runId, CancellationToken cancellationToken = default) => inner.WaitAsync(runId, cancellationToken);

        public IAsyncEnumerable<PluginRunUpdate> WatchAsync(Guid runId, CancellationToken cancellationToken = default) => inner.WatchAsync(runId, cancellationToken);

        public Task<bool> CancelAsync(Guid runId, string? reason = null, CancellationToken cancellationToken = default) => inner.CancelAsync(runId, reason, cancellationToken);

        public Task<PluginQueueState> GetQueueAsync(Guid? runId = null, CancellationToken cancellationToken = default) => inner.GetQueueAsync(runId, cancellationToken);
    }

    [Theory]
    [InlineData(Db.Sqlite, PluginScheduleMisfirePolicy.Skip, 10, new int[0], 3)]
    [InlineData(Db.Sqlite, PluginScheduleMisfirePolicy.RunOnce, 10, new[] { 11 }, 2)]
    [InlineData(Db.Sqlite, PluginScheduleMisfirePolicy.RunEach, 10, new[] { 9, 10, 11 }, 0)]
    [InlineData(Db.Sqlite, PluginScheduleMisfirePolicy.RunEach, 2, new[] { 10, 11 }, 1)]
    [InlineData(Db.Postgres, PluginScheduleMisfirePolicy.Skip, 10, new int[0], 3)]
    [InlineData(Db.Postgres, PluginScheduleMisfirePolicy.RunOnce, 10, new[] { 11 }, 2)]
    [InlineData(Db.Postgres, PluginScheduleMisfirePolicy.RunEach, 10, new[] { 9, 10, 11 }, 0)]
    public async Task AppDownAcrossThreeOccurrences_FollowsTheMisfirePolicy(Db db, PluginScheduleMisfirePolicy policy, int cap, int[] firedHours, int skipped)
    {
        var time = Clock();
        await using var host = await HostAsync(servers, _plugins, db, time);
        using var skippedCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginSchedulesMetrics>().Skipped);
        using var firedCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginSchedulesMetrics>().Fired);
        var schedule = await host.CreateScheduleAsync("0 * * * *", misfire: policy, cap: cap);
        Assert.Equal(Utc(2026, 3, 2, 9, 0), schedule.NextFireAt);

        // Down from 08:00:30 to 11:30: the occurrences of 09:00, 10:00 and 11:00 are missed.
        time.SetUtcNow(Utc(2026, 3, 2, 11, 30));
        await host.FireAsync();

        var runs = await host.RunsAsync();
        Assert.Equal(firedHours.Select(h => Utc(2026, 3, 2, h, 0)), runs.Select(OccurrenceOf).Order());
        Assert.Equal(skipped, skippedCount.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.All(skippedCount.GetMeasurementSnapshot(), m => Assert.Equal(PluginSchedulesMetrics.MisfireReason, m.Tags[PluginSchedulesMetrics.ReasonTag]));
        Assert.Equal(firedHours.Length, firedCount.GetMeasurementSnapshot().EvaluateAsCounter());
        var stored = await host.GetScheduleAsync(schedule.ScheduleId);
        Assert.Equal(Utc(2026, 3, 2, 12, 0), stored.NextFireAt);
        if (skipped > 0)
        {
            Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.ScheduleSkippedId && r.Message.Contains(schedule.ScheduleId.ToString(), StringComparison.Ordinal));
        }

        // Back up: the next occurrence fires on time whatever the policy, and nothing fires twice.
        time.SetUtcNow(Utc(2026, 3, 2, 12, 0).AddSeconds(4));
        await host.FireAsync();
        await host.FireAsync();
        var after = await host.RunsAsync();
        Assert.Equal(firedHours.Length + 1, after.Count);
        Assert.Equal(Utc(2026, 3, 2, 12, 0), after.Select(OccurrenceOf).Max());
    }

    [Theory]
    [InlineData(Db.Sqlite, PluginScheduleOverlapPolicy.Skip)]
    [InlineData(Db.Sqlite, PluginScheduleOverlapPolicy.Allow)]
    [InlineData(Db.Sqlite, PluginScheduleOverlapPolicy.CancelPrevious)]
    [InlineData(Db.Postgres, PluginScheduleOverlapPolicy.Skip)]
    [InlineData(Db.Postgres, PluginScheduleOverlapPolicy.CancelPrevious)]
    public async Task OccurrenceDueWhileThePreviousRunIsActive_FollowsTheOverlapPolicy(Db db, PluginScheduleOverlapPolicy policy)
    {
        var time = Clock();
        await using var host = await HostAsync(servers, _plugins, db, time);
        using var skippedCount = new MetricCollector<long>(host.Services.GetRequiredService<PluginSchedulesMetrics>().Skipped);
        var schedule = await host.CreateScheduleAsync("* * * * *", overlap: policy);
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await host.FireAsync());
        var first = Assert.Single(await host.RunsAsync());
        Assert.Equal(PluginRunStatus.Pending, first.Status);

        // The 08:02 occurrence is due while the 08:01 run is still pending.
        time.Advance(TimeSpan.FromMinutes(1));
        await host.FireAsync();
        var runs = await host.RunsAsync();
        var firstNow = await host.GetRequiredAsync(first.RunId);
        switch (policy)
        {
            case PluginScheduleOverlapPolicy.Skip:
                Assert.Single(runs);
                Assert.Equal(PluginRunStatus.Pending, firstNow.Status);
                Assert.Equal(1, skippedCount.GetMeasurementSnapshot().EvaluateAsCounter());
                Assert.Equal(PluginSchedulesMetrics.OverlapReason, skippedCount.GetMeasurementSnapshot()[0].Tags[PluginSchedulesMetrics.ReasonTag]);
                break;
            case PluginScheduleOverlapPolicy.Allow:
                Assert.Equal(2, runs.Count);
                Assert.Equal(PluginRunStatus.Pending, firstNow.Status);
                break;
            case PluginScheduleOverlapPolicy.CancelPrevious:
                Assert.Equal(2, runs.Count);
                Assert.Equal(PluginRunStatus.Cancelled, firstNow.Status);
                Assert.Contains(schedule.ScheduleId.ToString("D"), firstNow.Error);
                Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.ScheduleCancelledPreviousId);
                break;
        }

        var stored = await host.GetScheduleAsync(schedule.ScheduleId);
        Assert.Equal(runs[^1].RunId, stored.LastRunId);
        Assert.Equal(Utc(2026, 3, 2, 8, 3), stored.NextFireAt);

        // Once the previous run ended, the next occurrence fires whatever the policy.
        foreach (var run in runs)
        {
            await host.UpdateRunAsync(run.RunId, r => r.Status = r.Status.IsTerminal() ? r.Status : PluginRunStatus.Completed);
        }

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await host.FireAsync());
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ScheduleInNewYork_AcrossBothDaylightSavingTransitions_FiresAtTheRightInstants(Db db)
    {
        // 2026: clocks go forward on March 8 at 02:00 (02:00-03:00 does not exist) and back on November 1 at 02:00 (01:00-02:00 happens twice).
        var time = Clock(Utc(2026, 3, 7, 0, 0));
        await using var host = await HostAsync(servers, _plugins, db, time, scheduler: o => o.MisfireThreshold = TimeSpan.FromMinutes(10));
        var daily = await host.CreateScheduleAsync("30 2 * * *", "America/New_York", user: "spring");
        await RunClockAsync(host, time, Utc(2026, 3, 10, 0, 0));

        // 02:30 EST = 07:30 UTC; on the 8th 02:30 does not exist and Cronos fires at the end of the gap, 03:00 EDT = 07:00 UTC; then 02:30 EDT = 06:30 UTC.
        var spring = await host.RunsAsync("spring");
        Assert.Equal([Utc(2026, 3, 7, 7, 30), Utc(2026, 3, 8, 7, 0), Utc(2026, 3, 9, 6, 30)], spring.Select(OccurrenceOf));
        AssertFiredPromptly(spring);

        time.SetUtcNow(Utc(2026, 10, 31, 0, 0));
        await host.WithSchedulerAsync(s => s.DeleteAsync(daily.ScheduleId));
        await host.CreateScheduleAsync("30 1 * * *", "America/New_York", user: "fall");
        await host.CreateScheduleAsync("*/30 1 * * *", "America/New_York", user: "fall-interval");
        await RunClockAsync(host, time, Utc(2026, 11, 3, 0, 0));

        // 01:30 EDT = 05:30 UTC; on November 1 the repeated 01:30 fires once (the first, EDT); then 01:30 EST = 06:30 UTC.
        var fall = await host.RunsAsync("fall");
        Assert.Equal([Utc(2026, 10, 31, 5, 30), Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 2, 6, 30)], fall.Select(OccurrenceOf));
        AssertFiredPromptly(fall);

        // An interval expression fires in both passes of the repeated hour.
        var interval = (await host.RunsAsync("fall-interval")).Where(r => OccurrenceOf(r).Date == new DateTime(2026, 11, 1)).Select(OccurrenceOf);
        Assert.Equal([Utc(2026, 11, 1, 5, 0), Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 1, 6, 0), Utc(2026, 11, 1, 6, 30)], interval);
    }

    private static async Task RunClockAsync(TestHost host, Microsoft.Extensions.Time.Testing.FakeTimeProvider time, DateTimeOffset until)
    {
        while (time.GetUtcNow() < until)
        {
            time.Advance(TimeSpan.FromMinutes(5));
            await host.FireAsync();
        }
    }

    private static void AssertFiredPromptly(IEnumerable<PluginRun> runs) =>
        Assert.All(runs, r => Assert.InRange(r.CreatedAt - OccurrenceOf(r), TimeSpan.Zero, TimeSpan.FromMinutes(5)));

    [Theory]
    [InlineData(Db.Sqlite, false)]
    [InlineData(Db.Sqlite, true)]
    [InlineData(Db.Postgres, false)]
    public async Task ScheduleWhosePluginDisappearedOrWhoseSettingsBecameInvalid_IsPausedWithTheReason_NotRetried(Db db, bool settingsInvalid)
    {
        var time = Clock();
        await using var before = await HostAsync(servers, _plugins, db, time);
        var schedule = await before.CreateScheduleAsync("* * * * *");

        // A later deployment: the echo plugin is gone, or its schema no longer accepts one topic.
        using var changed = new TestPlugins();
        if (settingsInvalid)
        {
            changed.Add("echo", TestPlugins.EchoManifest, TestPlugins.EchoSchema.Replace("\"minItems\": 1", "\"minItems\": 2", StringComparison.Ordinal));
        }
        else
        {
            Directory.Delete(Path.Combine(changed.Directory, "echo"), recursive: true);
        }

        await using var after = await HostAsync(servers, changed, db, time, sameStoreAs: before);
        using var paused = new MetricCollector<long>(after.Services.GetRequiredService<PluginSchedulesMetrics>().Paused);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, await after.FireAsync());

        var stored = await after.GetScheduleAsync(schedule.ScheduleId);
        Assert.False(stored.Enabled);
        Assert.Null(stored.NextFireAt);
        Assert.Contains(settingsInvalid ? "settings are no longer valid" : "no longer in the catalog", stored.PausedReason);
        if (settingsInvalid)
        {
            Assert.Contains("topics", stored.PausedReason);
        }

        Assert.Empty(await after.RunsAsync());
        Assert.Equal(1, paused.GetMeasurementSnapshot().EvaluateAsCounter());

        // Not retried in a loop: later cycles find nothing due.
        for (var i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(0, await after.FireAsync());
        }

        Assert.Single(after.Logs.GetSnapshot(), r => r.Id.Id == Log.ScheduleAutoPausedId && r.Message.Contains(schedule.ScheduleId.ToString(), StringComparison.Ordinal));
        Assert.Equal(1, paused.GetMeasurementSnapshot().EvaluateAsCounter());

        // Resuming checks again, and says why it cannot.
        await Assert.ThrowsAnyAsync<FirstSip.Streams.FirstSipException>(() => after.WithSchedulerAsync(s => s.ResumeAsync(schedule.ScheduleId)));
    }

    [Fact]
    public async Task Fired_RecordsLateness_AndLogsTheScheduleId()
    {
        var time = Clock();
        await using var host = await HostAsync(servers, _plugins, Db.Sqlite, time);
        using var lateness = new MetricCollector<double>(host.Services.GetRequiredService<PluginSchedulesMetrics>().Lateness);
        var schedule = await host.CreateScheduleAsync("* * * * *");
        time.SetUtcNow(Utc(2026, 3, 2, 8, 1).AddSeconds(7));

        Assert.Equal(1, await host.FireAsync());

        Assert.Equal(7, Assert.Single(lateness.GetMeasurementSnapshot()).Value, precision: 3);
        Assert.Contains(host.Logs.GetSnapshot(), r => r.Id.Id == Log.ScheduleFiredId && r.Message.Contains(schedule.ScheduleId.ToString(), StringComparison.Ordinal));
    }
}
