using System.Text.Json.Nodes;
using FirstSip.Plugins.Tests.Infrastructure;
using static FirstSip.Plugins.Tests.Schedules.ScheduleTestSupport;

namespace FirstSip.Plugins.Tests.Schedules;

[Collection(ServersCollectionDefinition.Name)]
public sealed class PluginSchedulerTests(ServersFixture servers) : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private static CreatePluginScheduleRequest Request(string cron = "0 7 * * *", string zone = "UTC", string settings = """{"topics":["ai"]}""", string plugin = "echo") => new()
    {
        PluginName = plugin,
        UserId = "42",
        Settings = JsonNode.Parse(settings)!.AsObject(),
        CronExpression = cron,
        TimeZone = zone,
    };

    [Fact]
    public async Task CreateAsync_ValidatesPluginSettingsExpressionAndZone_AndWritesNothingWhenInvalid()
    {
        var time = Clock();
        await using var host = await HostAsync(servers, _plugins, Db.Sqlite, time);

        await Assert.ThrowsAsync<UnknownPluginException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(plugin: "missing"))));
        var invalid = await Assert.ThrowsAsync<InvalidPluginSettingsException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(settings: """{"topics":[]}"""))));
        Assert.Contains(invalid.Errors, e => e.Path == "topics");
        await Assert.ThrowsAsync<PluginSecretsException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(settings: """{"topics":["ai"],"_llm_api_key":"sk-1"}"""))));
        var fields = await Assert.ThrowsAsync<InvalidPluginScheduleException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(cron: "0 7 * *"))));
        Assert.Contains("has 4 fields", fields.Problem);
        await Assert.ThrowsAsync<InvalidPluginScheduleException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(cron: "0 25 * * *"))));
        var zone = await Assert.ThrowsAsync<InvalidPluginScheduleException>(() => host.WithSchedulerAsync(s => s.CreateAsync(Request(zone: "Mars/Olympus"))));
        Assert.Contains("Mars/Olympus", zone.Problem);
        await Assert.ThrowsAsync<InvalidPluginScheduleException>(() => host.WithSchedulerAsync(s => s.CreateAsync(new CreatePluginScheduleRequest
        {
            PluginName = "echo", UserId = "42", Settings = JsonNode.Parse("""{"topics":["ai"]}""")!.AsObject(), CronExpression = "* * * * *", MaxMisfireRuns = 0,
        })));

        Assert.Empty(await host.WithSchedulerAsync(s => s.ListAsync(new PluginScheduleQuery())));
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task Schedule_CanBeCreatedListedUpdatedPausedResumedTriggeredAndDeleted(Db db)
    {
        var time = Clock();
        await using var host = await HostAsync(servers, _plugins, db, time);

        // Six fields: seconds first. The next fire time is UTC, computed in the schedule's zone.
        var created = await host.WithSchedulerAsync(s => s.CreateAsync(Request(cron: "15 0 7 * * *", zone: "Europe/Paris")));
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 6, 0, 15, TimeSpan.Zero), created.NextFireAt);
        Assert.Equal("""{"topics":["ai"]}""", created.Settings);
        Assert.Equal(1, created.Version);
        await host.WithSchedulerAsync(s => s.CreateAsync(Request(cron: "0 9 1 1 *", plugin: "plain", settings: "{}")));

        Assert.Equal(2, (await host.WithSchedulerAsync(s => s.ListAsync(new PluginScheduleQuery { UserId = "42" }))).Count);
        Assert.Equal(created.ScheduleId, Assert.Single(await host.WithSchedulerAsync(s => s.ListAsync(new PluginScheduleQuery { UserId = "42", PluginName = "echo" }))).ScheduleId);
        Assert.Empty(await host.WithSchedulerAsync(s => s.ListAsync(new PluginScheduleQuery { UserId = "7" })));

        var updated = await host.WithSchedulerAsync(s => s.UpdateAsync(created.ScheduleId, new UpdatePluginScheduleRequest
        {
            CronExpression = "0 7 * * *",
            TimeZone = "America/New_York",
            OverlapPolicy = PluginScheduleOverlapPolicy.CancelPrevious,
        }));
        Assert.NotNull(updated);
        Assert.Equal(Utc(2026, 3, 2, 12, 0), updated.NextFireAt);
        Assert.Equal(PluginScheduleOverlapPolicy.CancelPrevious, updated.OverlapPolicy);
        Assert.Equal(2, updated.Version);
        await Assert.ThrowsAsync<PluginScheduleConflictException>(() => host.WithSchedulerAsync(s => s.UpdateAsync(created.ScheduleId, new UpdatePluginScheduleRequest { MaxMisfireRuns = 3, ExpectedVersion = 1 })));
        await Assert.ThrowsAsync<InvalidPluginSettingsException>(() => host.WithSchedulerAsync(s => s.UpdateAsync(created.ScheduleId, new UpdatePluginScheduleRequest { Settings = new JsonObject { ["count"] = 99 } })));

        var paused = await host.WithSchedulerAsync(s => s.PauseAsync(created.ScheduleId, "on holiday"));
        Assert.NotNull(paused);
        Assert.False(paused.Enabled);
        Assert.Null(paused.NextFireAt);
        Assert.Equal("on holiday", paused.PausedReason);

        // Paused across its 07:00 occurrence: nothing fires, and resuming does not fire what was missed.
        time.SetUtcNow(Utc(2026, 3, 2, 13, 0));
        Assert.Equal(0, await host.FireAsync());
        var resumed = await host.WithSchedulerAsync(s => s.ResumeAsync(created.ScheduleId));
        Assert.NotNull(resumed);
        Assert.True(resumed.Enabled);
        Assert.Null(resumed.PausedReason);
        Assert.Equal(Utc(2026, 3, 3, 12, 0), resumed.NextFireAt);
        Assert.Equal(0, await host.FireAsync());

        // The next occurrences in the schedule's zone, with its offsets (New York goes to summer time on March 8).
        var preview = await host.WithSchedulerAsync(s => s.PreviewAsync(created.ScheduleId, 7));
        Assert.NotNull(preview);
        Assert.Equal(7, preview.Count);
        Assert.Equal(new DateTimeOffset(2026, 3, 3, 7, 0, 0, TimeSpan.FromHours(-5)), preview[0]);
        Assert.Equal(new DateTimeOffset(2026, 3, 9, 7, 0, 0, TimeSpan.FromHours(-4)), preview[6]);

        var run = await host.WithSchedulerAsync(s => s.TriggerAsync(created.ScheduleId));
        Assert.NotNull(run);
        Assert.Equal(PluginRunStatus.Pending, run.Status);
        Assert.Equal("42", run.UserId);
        var afterTrigger = await host.GetScheduleAsync(created.ScheduleId);
        Assert.Equal(run.RunId, afterTrigger.LastRunId);
        Assert.Equal(Utc(2026, 3, 3, 12, 0), afterTrigger.NextFireAt);

        Assert.True(await host.WithSchedulerAsync(s => s.DeleteAsync(created.ScheduleId)));
        Assert.False(await host.WithSchedulerAsync(s => s.DeleteAsync(created.ScheduleId)));
        Assert.Null(await host.WithSchedulerAsync(s => s.GetAsync(created.ScheduleId)));
        Assert.Null(await host.WithSchedulerAsync(s => s.PauseAsync(created.ScheduleId)));
        Assert.Null(await host.WithSchedulerAsync(s => s.TriggerAsync(created.ScheduleId)));
        Assert.NotNull(await host.GetAsync(run.RunId));
    }

    [Theory]
    [InlineData("daily", "07:00", DayOfWeek.Monday, "0 7 * * *")]
    [InlineData("Daily", "23:59", DayOfWeek.Monday, "59 23 * * *")]
    [InlineData("weekly", "06:30", DayOfWeek.Monday, "30 6 * * 1")]
    [InlineData("weekly", "18:05", DayOfWeek.Sunday, "5 18 * * 0")]
    public void FromOriginalSettings_MapsFrequencyAndPreferredTime(string frequency, string time, DayOfWeek day, string expected)
    {
        Assert.Equal(expected, PluginScheduleCron.FromOriginalSettings(frequency, time, day));
    }

    [Fact]
    public void FromSettings_ReadsTheDigestsSettings_MergedWithItsDefaults()
    {
        Assert.Equal("30 6 * * 5", PluginScheduleCron.FromSettings(new JsonObject { ["frequency"] = "weekly", ["preferred_time"] = "06:30", ["topics"] = new JsonArray("ai") }, DayOfWeek.Friday));
        Assert.Null(PluginScheduleCron.FromSettings(new JsonObject { ["topics"] = new JsonArray("ai") }));
        Assert.Null(PluginScheduleCron.FromSettings(new JsonObject { ["frequency"] = "daily", ["preferred_time"] = 7 }));
        Assert.Throws<InvalidPluginScheduleException>(() => PluginScheduleCron.FromSettings(new JsonObject { ["frequency"] = "monthly", ["preferred_time"] = "07:00" }));
    }

    [Theory]
    [InlineData("hourly", "07:00")]
    [InlineData("daily", "7:00")]
    [InlineData("daily", "24:00")]
    [InlineData("daily", "07:60")]
    public void FromOriginalSettings_RejectsWhatTheOriginalDidNotUse(string frequency, string time)
    {
        Assert.Throws<InvalidPluginScheduleException>(() => PluginScheduleCron.FromOriginalSettings(frequency, time));
    }

    [Fact]
    public void GetOccurrences_AcceptsAWindowsZoneId_AndReturnsLocalOffsets()
    {
        Assert.Equal("America/New_York", PluginScheduleCron.Validate("@daily", "Eastern Standard Time"));
        var occurrences = PluginScheduleCron.GetOccurrences("0 7 * * *", "America/New_York", Utc(2026, 3, 7, 0, 0), 3);
        Assert.Equal(
            [
                new DateTimeOffset(2026, 3, 7, 7, 0, 0, TimeSpan.FromHours(-5)),
                new DateTimeOffset(2026, 3, 8, 7, 0, 0, TimeSpan.FromHours(-4)),
                new DateTimeOffset(2026, 3, 9, 7, 0, 0, TimeSpan.FromHours(-4)),
            ],
            occurrences);
    }
}
