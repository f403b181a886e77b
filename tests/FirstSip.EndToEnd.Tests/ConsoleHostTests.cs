using System.Text.Json;
using FirstSip.EndToEnd.Tests.Infrastructure;
using FirstSip.Plugins;

namespace FirstSip.EndToEnd.Tests;

/// <summary>The console host against a real Redis, the real sidecar and a real SQLite database.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class ConsoleHostTests(EndToEndEnvironment environment)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RunWait_FeedDigest_CompletesAndStoresItsBriefing()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("feed"));

        var result = await console.RunAsync("run", "feed-digest", "--wait", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var run = result.Json();
        Assert.Equal("completed", (string?)run["status"]);
        Assert.Equal("feed-digest", (string?)run["plugin"]);
        Assert.NotNull(run["completed_at"]);
        var briefing = await SampleDatabase.FindBriefingAsync(console.Database, Guid.Parse((string)run["run_id"]!));
        Assert.NotNull(briefing);
        Assert.Equal(3, briefing.Sections.Count);
        Assert.Contains("feeds", briefing.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunWait_DailyNewsDigestWithStubCrewAI_CompletesWithThreeStepsReported()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("crew"));

        var result = await console.RunAsync("run", "daily-news-digest", "--set", "topics=science,space", "--set", "summary_length=brief", "--wait", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var run = result.Json();
        var runId = (string)run["run_id"]!;
        Assert.Equal("completed", (string?)run["status"]);
        Assert.Equal("review_task", (string?)run["last_step"]);
        var steps = (await environment.ReadStreamAsync(environment.Default.EventsStream))
            .Select(e => JsonDocument.Parse((string)e["payload"]!).RootElement)
            .Where(p => p.GetProperty("plugin_run_id").GetString() == runId && p.GetProperty("kind").GetString() == "step")
            .Select(p => p.GetProperty("step").GetString())
            .ToList();
        Assert.Equal(["research_task", "writing_task", "review_task"], steps);
        var briefing = await SampleDatabase.FindBriefingAsync(console.Database, Guid.Parse(runId));
        Assert.NotNull(briefing);
        Assert.False(string.IsNullOrWhiteSpace(briefing.Summary));
    }

    [Fact]
    public async Task Run_UnknownPlugin_IsRefusedAtStartAndNothingIsWritten()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("unknown"));

        var result = await console.RunAsync("run", "no-such-plugin", "--wait");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown plugin: no-such-plugin", result.Output + result.Error, StringComparison.Ordinal);
        Assert.Contains("feed-digest", result.Output + result.Error, StringComparison.Ordinal);
        Assert.Equal(0, await SampleDatabase.CountRunsAsync(console.Database));
    }

    [Fact]
    public async Task Run_InvalidSettings_AreRefusedNamingEveryFailingPath()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("invalid"));

        var result = await console.RunAsync("run", "daily-news-digest", "--set", "summary_length=endless", "--set", "preferred_time=noon", "--wait");

        Assert.Equal(2, result.ExitCode);
        var text = result.Output + result.Error;
        Assert.Contains("invalid settings for plugin daily-news-digest", text, StringComparison.Ordinal);
        Assert.Contains("summary_length", text, StringComparison.Ordinal);
        Assert.Contains("preferred_time", text, StringComparison.Ordinal);
        Assert.Equal(0, await SampleDatabase.CountRunsAsync(console.Database));
    }

    [Fact]
    public async Task RunWait_PluginPastItsTimeout_EndsTimedOut()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("timeout"));

        var result = await console.RunAsync("run", "sleepy", "--set", "mode=busy", "--set", "seconds=60", "--timeout", "2", "--wait", "--json");

        Assert.Equal(1, result.ExitCode);
        var run = result.Json();
        Assert.Equal("timed_out", (string?)run["status"]);
        Assert.Contains("timed out after 2 s", (string?)run["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_RunningRun_EndsCancelledAndTheSidecarStopsIt()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("cancel"));
        var pidFile = Path.Combine(Path.GetTempPath(), $"firstsip-sleepy-{Guid.NewGuid():N}.pid");
        await using var worker = console.Start("worker-cancel", "worker");

        var started = await console.RunAsync("run", "sleepy", "--set", "seconds=60", "--set", $"pid_file={pidFile}", "--json");
        Assert.True(started.ExitCode == 0, started.ToString());
        var runId = Guid.Parse((string)started.Json()["run_id"]!);
        await SampleDatabase.WaitForRunAsync(console.Database, runId, r => r.Status == PluginRunStatus.Running && File.Exists(pidFile), RunTimeout, "running");
        var pids = File.ReadAllText(pidFile).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

        var cancel = await console.RunAsync("cancel", runId.ToString());

        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        var run = await SampleDatabase.FindRunAsync(console.Database, runId);
        Assert.Equal(PluginRunStatus.Cancelled, run!.Status);
        // The sidecar stops the execution (and its grandchild) and answers "cancelled" with the reason; the app ignores that late result.
        var result = await WaitForResultAsync(environment.Default, runId);
        Assert.Equal("cancelled: cancelled from the console", result.GetProperty("error").GetString());
        Assert.Equal("cancelled", result.GetProperty("kind").GetString());
        Assert.All(pids, pid => Assert.False(IsAlive(pid), $"process {pid} of the cancelled execution still runs"));
        Assert.Equal(PluginRunStatus.Cancelled, (await SampleDatabase.FindRunAsync(console.Database, runId))!.Status);
    }

    [Fact]
    public async Task SidecarKilledMidRun_SecondSidecarFinishesTheRun()
    {
        var lane = environment.NewLane();
        var console = new ConsoleHost(lane, environment.NewDatabase("failover"));
        await using var worker = console.Start("worker-failover", "worker");
        var (first, _) = await Sidecar.StartAsync("sidecar-first", lane);
        await using (first)
        {
            var started = await console.RunAsync("run", "sleepy", "--set", "seconds=3", "--json");
            Assert.True(started.ExitCode == 0, started.ToString());
            var runId = Guid.Parse((string)started.Json()["run_id"]!);
            await SampleDatabase.WaitForRunAsync(console.Database, runId, r => r.Status == PluginRunStatus.Running, RunTimeout, "running");

            await first.KillAsync();
            var (second, _) = await Sidecar.StartAsync("sidecar-second", lane);
            await using (second)
            {
                var run = await SampleDatabase.WaitForRunAsync(console.Database, runId, r => r.Status.IsTerminal(), RunTimeout, "finished");

                Assert.Equal(PluginRunStatus.Completed, run.Status);
                var result = await WaitForResultAsync(lane, runId);
                Assert.Equal("completed", result.GetProperty("status").GetString());
            }
        }
    }

    [Fact]
    public async Task Backlog_LongerThanEveryTimeout_ExecutesEachRunOnce_AndACancelledQueuedRunNeverStarts()
    {
        // Eight runs of one second each, an execution timeout of two seconds, queued before the one sidecar with one
        // slot starts: they wait far longer than every timeout.
        var lane = environment.NewLane();
        var console = new ConsoleHost(lane, environment.NewDatabase("backlog"));
        await using var worker = console.Start("worker-backlog", "worker");
        var runIds = new List<Guid>();
        for (var i = 0; i < 8; i++)
        {
            var started = await console.RunAsync("run", "sleepy", "--set", "seconds=1", "--timeout", "2", "--json");
            Assert.True(started.ExitCode == 0, started.ToString());
            runIds.Add(Guid.Parse((string)started.Json()["run_id"]!));
        }

        var queue = await console.RunAsync("queue", "--json");
        Assert.True(queue.ExitCode == 0, queue.ToString());
        Assert.Equal(8, (int)queue.Json()["waiting"]!);
        var cancelled = runIds[^1];
        var cancel = await console.RunAsync("cancel", cancelled.ToString());
        Assert.True(cancel.ExitCode == 0, cancel.ToString());

        var (sidecar, _) = await Sidecar.StartAsync("sidecar-backlog", lane, new Dictionary<string, string?> { ["SIDECAR_CONCURRENCY"] = "1" });
        await using (sidecar)
        {
            foreach (var runId in runIds)
            {
                await SampleDatabase.WaitForRunAsync(console.Database, runId, r => r.Status.IsTerminal(), TimeSpan.FromMinutes(2), "ended");
            }

            // Every started event is one execution: the worker sends it when it starts the plugin.
            var executions = (await environment.ReadStreamAsync(lane.EventsStream))
                .Select(e => JsonDocument.Parse((string)e["payload"]!).RootElement)
                .Where(p => p.GetProperty("kind").GetString() == "started")
                .GroupBy(p => Guid.Parse(p.GetProperty("plugin_run_id").GetString()!))
                .ToDictionary(g => g.Key, g => g.Count());
            foreach (var runId in runIds[..^1])
            {
                var run = await SampleDatabase.FindRunAsync(console.Database, runId);
                Assert.Equal(PluginRunStatus.Completed, run!.Status);
                Assert.Equal(1, run.Attempt);
                Assert.Equal(1, executions.GetValueOrDefault(runId));
            }

            Assert.Equal(PluginRunStatus.Cancelled, (await SampleDatabase.FindRunAsync(console.Database, cancelled))!.Status);
            Assert.Equal(0, executions.GetValueOrDefault(cancelled));
        }
    }

    [Fact]
    public async Task RunsAndShow_ListTheStoredRuns()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("list"));
        var finished = await console.RunAsync("run", "echo", "--set", "greeting=hi", "--wait", "--json");
        Assert.True(finished.ExitCode == 0, finished.ToString());
        var runId = (string)finished.Json()["run_id"]!;

        var runs = await console.RunAsync("runs", "--status", "completed", "--json");
        var show = await console.RunAsync("show", runId, "--json");
        var table = await console.RunAsync("runs");

        Assert.True(runs.ExitCode == 0, runs.ToString());
        Assert.Equal(runId, (string?)runs.Json().AsArray().Single()!["run_id"]);
        Assert.Equal("hi", (string?)show.Json()["output"]!["settings"]!["greeting"]);
        Assert.Contains(runId, table.Output, StringComparison.Ordinal);
        Assert.Contains("completed", table.Output, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> WaitForResultAsync(Lane lane, Guid runId)
    {
        var deadline = DateTime.UtcNow + RunTimeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var entry in await lane.Environment.ReadStreamAsync(lane.ResultsStream))
            {
                // Other tests share the lane's stream, poison entries included: only this run's result counts.
                if (!((string?)entry["payload"] is { } text && text.Contains(runId.ToString(), StringComparison.Ordinal)))
                {
                    continue;
                }

                var payload = JsonDocument.Parse(text).RootElement;
                if (payload.GetProperty("plugin_run_id").GetString() == runId.ToString())
                {
                    return payload.Clone();
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no result for run {runId} on {lane.ResultsStream}");
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
}
