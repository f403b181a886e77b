using System.Net;
using System.Net.Sockets;
using FirstSip.EndToEnd.Tests.Infrastructure;
using FirstSip.Plugins;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// The console host as a user drives it from a terminal: Ctrl+C and SIGTERM during <c>run --wait</c>, the run script
/// handing signals to the program, Redis unreachable, and <c>run</c> without a process to finish the run.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ConsoleSignalTests(EndToEndEnvironment environment)
{
    private const int SigInt = 2;
    private const int SigTerm = 15;

    /// <summary>How long a stopped program may take to end: a bound on a hang, not a measure of speed.</summary>
    private static readonly TimeSpan EndBound = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(SigInt)]
    [InlineData(SigTerm)]
    public async Task RunWait_InterruptedWhileRunning_StopsWaitingAndTheRunGoesOn(int signal)
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase($"signal-{signal}"));
        await using var process = console.Start($"run-wait-signal-{signal}", "run", "sleepy", "--set", "seconds=30", "--wait");
        await process.WaitForOutputAsync("step sleeping", TimeSpan.FromSeconds(60));

        process.Signal(signal);
        await process.Exited.WaitAsync(EndBound);

        Assert.True(process.ExitCode == 130, $"exit code {process.ExitCode}: {process.Output}");
        Assert.Contains("Stopped watching", process.Output, StringComparison.Ordinal);
        Assert.Contains("goes on", process.Output, StringComparison.Ordinal);
        var runId = RunIdIn(process.Output);
        Assert.Equal(PluginRunStatus.Running, (await SampleDatabase.FindRunAsync(console.Database, runId))!.Status);
    }

    [Fact]
    public async Task RunWait_CancelOnExit_CancelsTheRunWhenInterrupted()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("cancel-on-exit"));
        await using var process = console.Start("run-wait-cancel-on-exit", "run", "sleepy", "--set", "seconds=30", "--wait", "--cancel-on-exit");
        await process.WaitForOutputAsync("step sleeping", TimeSpan.FromSeconds(60));

        process.Signal(SigInt);
        await process.Exited.WaitAsync(EndBound);

        Assert.Equal(130, process.ExitCode);
        Assert.Contains("cancelled run", process.Output, StringComparison.Ordinal);
        var run = await SampleDatabase.FindRunAsync(console.Database, RunIdIn(process.Output));
        Assert.Equal(PluginRunStatus.Cancelled, run!.Status);
    }

    [Fact]
    public async Task RunScript_HandsSignalsToTheProgram_AndLeavesNoProcessBehind()
    {
        var database = environment.NewDatabase("run-script");
        var variables = new Dictionary<string, string?>(environment.Default.HostVariables(database)) { ["COLUMNS"] = "160" };
        await using var script = ChildProcess.Start("run-script-cli", Path.Combine(Repository.Root, "run"), ["cli", "run", "sleepy", "--set", "seconds=30", "--wait"], variables);
        await script.WaitForOutputAsync("step sleeping", TimeSpan.FromSeconds(120));

        // The script ran the program with exec: the process it started is the program itself, not a shell around it.
        var commandLine = File.ReadAllText($"/proc/{script.Id}/cmdline").Replace('\0', ' ');
        Assert.Contains("FirstSip.Samples.Console.dll", commandLine, StringComparison.Ordinal);
        script.Signal(SigTerm);
        await script.Exited.WaitAsync(EndBound);

        Assert.Equal(130, script.ExitCode);
        Assert.DoesNotContain(ProcessesUsing(database), pid => pid != script.Id);
    }

    [Fact]
    public async Task Run_RedisUnreachable_FailsWithOneLineNamingTheAddressAndTheSetting_AndWritesNothing()
    {
        var closedPort = ClosedPort();
        var database = environment.NewDatabase("no-redis");
        var console = new ConsoleHost(environment.Default, database);

        var result = await console.RunWithAsync(
            new Dictionary<string, string?> { ["FIRSTSIP_REDIS"] = $"redis://127.0.0.1:{closedPort}" },
            "run", "feed-digest", "--wait");

        Assert.True(result.ExitCode == 3, result.ToString());
        var text = result.Output + result.Error;
        Assert.Contains($"Redis is not reachable at 127.0.0.1:{closedPort}", text, StringComparison.Ordinal);
        Assert.Contains("FIRSTSIP_REDIS", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.Equal(0, await SampleDatabase.CountRunsAsync(database));
    }

    [Fact]
    public async Task Run_WithoutWait_AndNothingRunningToFinishIt_SaysWhatToStart()
    {
        // Streams of their own: no sidecar and no worker reads them.
        var lane = environment.NewLane();
        var console = new ConsoleHost(lane, environment.NewDatabase("nothing-running"));

        var result = await console.RunAsync("run", "echo", "--set", "greeting=hi");

        Assert.True(result.ExitCode == 0, result.ToString());
        var text = (result.Output + result.Error).ReplaceLineEndings(" ");
        Assert.Contains("No app side runs", text, StringComparison.Ordinal);
        Assert.Contains("worker", text, StringComparison.Ordinal);
        Assert.Contains("No sidecar reads", text, StringComparison.Ordinal);
        Assert.Contains("show ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_AtEightyColumns_KeepsEachRunIdOnOneLine()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("narrow"));
        var finished = await console.RunAsync("run", "echo", "--set", "greeting=hi", "--wait", "--json");
        var runId = (string)finished.Json()["run_id"]!;

        var table = await console.RunWithAsync(new Dictionary<string, string?> { ["COLUMNS"] = "80" }, "runs");

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains(runId, table.Output, StringComparison.Ordinal);
        Assert.All(table.Output.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 80, line));
    }

    private static Guid RunIdIn(string output)
    {
        var match = System.Text.RegularExpressions.Regex.Match(output, "Run ([0-9a-f-]{36})");
        Assert.True(match.Success, output);
        return Guid.Parse(match.Groups[1].Value);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Every process whose environment names the database (the program and anything it left running).</summary>
    private static List<int> ProcessesUsing(string database)
    {
        var found = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(folder, "environ")).Contains(database, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended meanwhile.
            }
        }

        return found;
    }
}
