using System.Text;
using System.Text.Json;
using FirstSip.EndToEnd.Tests.Infrastructure;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// Plugins in the original system's formats (sidecar/tests/plugins/original-*: a phase-09 <c>@CrewBase</c> crew and the
/// latest <c>create_crew(settings, llm, search_tool)</c>), through the console host and the real sidecar with the stub crewai.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OriginalPluginTests(EndToEndEnvironment environment)
{
    [Fact]
    public async Task Plugins_ListsTheOriginalFormatPlugins_WithTheirMetadata()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("original-list"));

        var result = await console.RunAsync("plugins", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var plugins = JsonDocument.Parse(result.Output).RootElement.EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal("crewai", plugins["original-crewbase"].GetProperty("runtime").GetString());
        Assert.Equal("🗞️", plugins["original-crewbase"].GetProperty("metadata").GetProperty("icon").GetString());
        Assert.Equal("first-sip", plugins["original-factory"].GetProperty("metadata").GetProperty("owner").GetString());
    }

    [Theory]
    [InlineData("original-crewbase", new[] { "gather_task", "digest_task" })]
    [InlineData("original-factory", new[] { "task_1", "task_2" })]
    public async Task RunWait_OriginalFormatCrew_CompletesWithABriefing_AndReportsEachTask(string plugin, string[] steps)
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase(plugin));

        var result = await console.RunAsync("run", plugin, "--set", "topics=science", "--wait", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var run = result.Json();
        var runId = (string)run["run_id"]!;
        Assert.Equal("completed", (string?)run["status"]);
        Assert.Equal(steps[^1], (string?)run["last_step"]);
        Assert.Equal(steps, await StepsAsync(runId));
        var briefing = await SampleDatabase.FindBriefingAsync(console.Database, Guid.Parse(runId));
        Assert.NotNull(briefing);
        Assert.Contains("The stub crew ran 2 tasks", briefing.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunWait_CredentialsGivenAsSettings_AsTheOriginalSentThem_CompleteAndAreNowhereInTheClear()
    {
        var llmKey = "sk-original-" + Guid.NewGuid().ToString("N");
        var tavilyKey = "tvly-original-" + Guid.NewGuid().ToString("N");
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("original-credentials"));

        var result = await console.RunAsync(
            "run", "original-factory", "--user", "42", "--set", $"_llm_api_key={llmKey}", "--set", $"_tavily_api_key={tavilyKey}",
            "--set", "_llm_model=anthropic/claude-sonnet-4-5", "--set", "topics=technology,health", "--wait", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var runId = (string)result.Json()["run_id"]!;
        Assert.Equal("completed", (string?)result.Json()["status"]);
        var stored = await SampleDatabase.FindRunAsync(console.Database, Guid.Parse(runId));
        Assert.NotNull(stored!.SealedSecrets);
        Assert.DoesNotContain("_llm_api_key", stored.Settings, StringComparison.Ordinal);
        Assert.Contains("\"_llm_model\":\"anthropic/claude-sonnet-4-5\"", stored.Settings, StringComparison.Ordinal);

        // The request went out as the original's did (user_id a JSON number), with the credentials only sealed.
        var request = (await environment.ReadStreamAsync(environment.Default.RequestsStream))
            .Single(e => ((string)e["payload"]!).Contains(runId, StringComparison.Ordinal));
        Assert.Equal(42, JsonDocument.Parse((string)request["payload"]!).RootElement.GetProperty("user_id").GetInt32());
        Assert.StartsWith("v1.", (string?)request["secrets"], StringComparison.Ordinal);

        foreach (var secret in new[] { llmKey, tavilyKey })
        {
            foreach (var file in new[] { console.Database, console.Database + "-wal" }.Where(File.Exists))
            {
                var bytes = await ReadSharedAsync(file);
                Assert.False(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"a credential is in {file}");
            }

            Assert.DoesNotContain(secret, result.Output + result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, environment.Sidecar!.Output, StringComparison.Ordinal);
            var lane = environment.Default;
            foreach (var stream in new[] { lane.RequestsStream, lane.ResultsStream, lane.EventsStream, lane.RequestsStream + ":dead", lane.ResultsStream + ":dead" })
            {
                foreach (var entry in await environment.ReadStreamAsync(stream))
                {
                    Assert.All(entry.Values, field => Assert.DoesNotContain(secret, field.Value.ToString(), StringComparison.Ordinal));
                }
            }
        }
    }

    [Fact]
    public async Task Run_FormatEmailSetting_IsRefusedInTheApp_WithTheSidecarsText()
    {
        var console = new ConsoleHost(environment.Default, environment.NewDatabase("original-format"));

        var result = await console.RunAsync("run", "original-crewbase", "--set", "reply_to=not-an-email", "--wait");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("reply_to: must be a valid email", result.Output + result.Error, StringComparison.Ordinal);
        var accepted = await console.RunAsync("run", "original-crewbase", "--set", "reply_to=desk@example.com", "--wait", "--json");
        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.Equal("completed", (string?)accepted.Json()["status"]);
    }

    private async Task<List<string?>> StepsAsync(string runId) =>
        (await environment.ReadStreamAsync(environment.Default.EventsStream))
            .Select(e => JsonDocument.Parse((string)e["payload"]!).RootElement)
            .Where(p => p.GetProperty("plugin_run_id").GetString() == runId && p.GetProperty("kind").GetString() == "step")
            .Select(p => p.GetProperty("step").GetString())
            .ToList();

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory);
        return memory.ToArray();
    }
}
