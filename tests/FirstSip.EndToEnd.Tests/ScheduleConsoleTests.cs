using FirstSip.EndToEnd.Tests.Infrastructure;
using FirstSip.Plugins;
using Microsoft.EntityFrameworkCore;

namespace FirstSip.EndToEnd.Tests;

/// <summary>Schedules on the console host: added from the command line, fired by `worker` processes, run by the real sidecar.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class ScheduleConsoleTests(EndToEndEnvironment environment)
{
    [Fact]
    public async Task ScheduleEveryMinute_OnTwoWorkers_ProducesOneCompletedRunWithItsBriefingPerOccurrence()
    {
        var lane = environment.NewLane();
        var console = new ConsoleHost(lane, environment.NewDatabase("schedules"));
        var added = await console.RunAsync("schedules", "add", "feed-digest", "--cron", "* * * * *", "--user", "7", "--zone", "America/New_York", "--overlap", "allow", "--json");
        Assert.True(added.ExitCode == 0, added.ToString());
        var scheduleId = Guid.Parse((string)added.Json()["schedule_id"]!);
        Assert.True((bool)added.Json()["enabled"]!);

        var preview = await console.RunAsync("schedules", "preview", scheduleId.ToString(), "--count", "3", "--json");
        Assert.True(preview.ExitCode == 0, preview.ToString());
        var occurrences = preview.Json().AsArray().Select(n => DateTimeOffset.Parse((string)n!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, occurrences.Count);
        Assert.Equal(TimeSpan.FromMinutes(1), occurrences[1] - occurrences[0]);

        var (sidecar, _) = await Sidecar.StartAsync("sidecar-schedules", lane);
        await using (sidecar)
        {
            // Two replicas of the app side on one database: each occurrence still starts one run.
            await using var first = console.Start("worker-schedules-1", "worker");
            await using var second = console.Start("worker-schedules-2", "worker");
            var runs = await WaitForCompletedRunsAsync(console.Database, "7", 2, TimeSpan.FromMinutes(4));

            var keys = runs.Select(r => r.IdempotencyKey!).ToList();
            Assert.All(keys, k => Assert.StartsWith($"schedule:{scheduleId:N}:", k, StringComparison.Ordinal));
            Assert.Equal(keys.Count, keys.Distinct().Count());
            foreach (var run in runs)
            {
                var briefing = await SampleDatabase.FindBriefingAsync(console.Database, run.RunId);
                Assert.NotNull(briefing);
                Assert.Equal(3, briefing.Sections.Count);
            }

            var shown = await console.RunAsync("schedules", "show", scheduleId.ToString(), "--json");
            Assert.True(shown.ExitCode == 0, shown.ToString());
            Assert.NotNull(shown.Json()["last_run_id"]);
            Assert.Equal("America/New_York", (string?)shown.Json()["time_zone"]);

            var paused = await console.RunAsync("schedules", "pause", scheduleId.ToString(), "--json");
            Assert.True(paused.ExitCode == 0, paused.ToString());
            Assert.False((bool)paused.Json()["enabled"]!);
            var listed = await console.RunAsync("schedules", "list", "--user", "7", "--json");
            Assert.Single(listed.Json().AsArray());

            var removed = await console.RunAsync("schedules", "remove", scheduleId.ToString());
            Assert.True(removed.ExitCode == 0, removed.ToString());
            Assert.Empty((await console.RunAsync("schedules", "list", "--json")).Json().AsArray());
        }
    }

    [Fact]
    public async Task ScheduleAdd_TakesTheTimeFromTheOriginalSettings_AndRefusesBadInput()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("schedule-add"));

        var fromSettings = await console.RunAsync("schedules", "add", "daily-news-digest", "--set", "topics=ai", "--set", "preferred_time=06:45", "--zone", "Europe/Paris", "--json");
        Assert.True(fromSettings.ExitCode == 0, fromSettings.ToString());
        Assert.Equal("45 6 * * *", (string?)fromSettings.Json()["cron"]);
        Assert.EndsWith("T06:45:00+01:00", (string?)fromSettings.Json()["next_fire_at"], StringComparison.Ordinal);

        var badZone = await console.RunAsync("schedules", "add", "feed-digest", "--daily", "07:00", "--zone", "Nowhere/Land");
        Assert.Equal(2, badZone.ExitCode);
        Assert.Contains("Nowhere/Land", badZone.Output + badZone.Error, StringComparison.Ordinal);
        var badCron = await console.RunAsync("schedules", "add", "feed-digest", "--cron", "61 * * * *");
        Assert.Equal(2, badCron.ExitCode);
        Assert.Single((await console.RunAsync("schedules", "list", "--json")).Json().AsArray());
    }

    private static async Task<List<PluginRun>> WaitForCompletedRunsAsync(string database, string userId, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        List<PluginRun> runs = [];
        while (DateTime.UtcNow < deadline)
        {
            await using (var db = SampleDatabase.Open(database))
            {
                runs = await db.Set<PluginRun>().AsNoTracking().Where(r => r.UserId == userId).ToListAsync();
            }

            if (runs.Count(r => r.Status == PluginRunStatus.Completed) >= count)
            {
                return runs;
            }

            Assert.DoesNotContain(runs, r => r.Status.IsTerminal() && r.Status != PluginRunStatus.Completed);
            await Task.Delay(500);
        }

        throw new TimeoutException($"{count} completed scheduled runs not seen within {timeout}; runs: {string.Join(", ", runs.Select(r => r.Status.ToWireString()))}");
    }
}
