using System.Text.Json.Nodes;
using FirstSip.EndToEnd.Tests.Infrastructure;
using StackExchange.Redis;

namespace FirstSip.EndToEnd.Tests;

/// <summary>The console host's operator commands against a real sidecar: queues, workers, timeline, retry, dead letters.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class OperationsConsoleTests(EndToEndEnvironment environment)
{
    [Fact]
    public async Task OperatorCommands_ShowQueuesWorkersTimeline_RetryARun_AndHandleDeadLetters()
    {
        // A lane of its own: the test puts a poison entry on the results stream and counts the dead letters.
        var lane = environment.NewLane();
        var (sidecar, _) = await Sidecar.StartAsync("sidecar-ops", lane);
        await using var ownSidecar = sidecar;
        var console = new ConsoleHost(lane, environment.NewDatabase("ops-console"));

        var failed = await console.RunAsync("run", "fails-first", "--set", "message=upstream said no", "--wait", "--json");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        var runId = (string)failed.Json()["run_id"]!;
        Assert.Equal("failed", (string?)failed.Json()["status"]);

        var queues = await console.RunAsync("queues", "--json");
        Assert.True(queues.ExitCode == 0, queues.ToString());
        Assert.Contains(queues.Json().AsArray(), s => (string?)s!["stream_name"] == lane.RequestsStream);

        var workers = await console.RunAsync("workers", "--json");
        Assert.True(workers.ExitCode == 0, workers.ToString());
        Assert.Contains(workers.Json().AsArray(), w => w!["plugins"]!.AsArray().Any(p => (string?)p == "fails-first"));

        // Retry: the worker process dispatches attempt 2, which completes.
        var retry = await console.RunAsync("retry", runId);
        Assert.True(retry.ExitCode == 0, retry.ToString());
        Assert.Contains("attempt 2", retry.Output, StringComparison.Ordinal);
        Assert.Equal(1, (await console.RunAsync("retry", Guid.NewGuid().ToString())).ExitCode);
        await using (var worker = console.Start("ops-worker", "worker"))
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            JsonNode? run = null;
            while (DateTime.UtcNow < deadline)
            {
                run = (await console.RunAsync("show", runId, "--json")).Json();
                if ((string?)run["status"] == "completed")
                {
                    break;
                }

                await Task.Delay(250);
            }

            Assert.Equal(("completed", 2), ((string?)run!["status"], (int)run["attempt"]!));
        }

        var timeline = await console.RunAsync("timeline", runId, "--json");
        Assert.True(timeline.ExitCode == 0, timeline.ToString());
        var kinds = timeline.Json()["entries"]!.AsArray().Select(e => ((string)e!["kind"]!, (int?)e["attempt"])).ToList();
        Assert.Contains(("failed", (int?)1), kinds);
        Assert.Contains(("completed", (int?)2), kinds);
        var text = await console.RunAsync("timeline", runId);
        Assert.Contains("upstream said no", text.Output, StringComparison.Ordinal);

        // Dead letters of the result stream: listed, shown (markup in a field is printed as it is), replayed once, purged.
        var dead = lane.ResultsStream + ":dead";
        var id = (string)(await environment.Redis.Database.StreamAddAsync(dead, [
            new NameValueEntry("payload", "not json"),
            new NameValueEntry("dead_reason", "[red]payload is not JSON[/]"),
        ]))!;
        var list = await console.RunAsync("dead", "list", "--stream", "results", "--json");
        Assert.Equal(id, (string?)Assert.Single(list.Json().AsArray())!["entry_id"]);
        var show = await console.RunAsync("dead", "show", id, "--stream", "results");
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains("[red]payload is not JSON[/]", show.Output, StringComparison.Ordinal);
        var replay = await console.RunAsync("dead", "replay", id, "--stream", "results");
        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Equal(1, (await console.RunAsync("dead", "replay", id, "--stream", "results")).ExitCode);
        await environment.Redis.Database.StreamAddAsync(dead, "dead_reason", "another");
        var purge = await console.RunAsync("dead", "purge", "--stream", "results");
        Assert.Contains("Deleted 1", purge.Output, StringComparison.Ordinal);
        Assert.Equal(0, await environment.Redis.Database.StreamLengthAsync(dead));
    }
}
