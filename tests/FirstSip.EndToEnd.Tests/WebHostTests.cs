using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FirstSip.EndToEnd.Tests.Infrastructure;

namespace FirstSip.EndToEnd.Tests;

/// <summary>The web host's API and page against a real Redis, the real sidecar and a real SQLite database.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class WebHostTests(EndToEndEnvironment environment)
{
    [Fact]
    public async Task Api_StartRun_StreamsServerSentEventsUntilCompleted_ThenServesTheBriefing()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-api"));

        using var start = await web.Client.PostAsJsonAsync("/api/runs", new { plugin = "feed-digest", user_id = "42", settings = new { items_per_feed = 2 } });
        Assert.True(start.StatusCode == HttpStatusCode.Created, await start.Content.ReadAsStringAsync());
        var run = (await start.Content.ReadFromJsonAsync<JsonObject>())!;
        var runId = (string)run["run_id"]!;
        Assert.Equal($"/api/runs/{runId}", start.Headers.Location?.ToString());

        var updates = await ReadEventsAsync(web.Client, runId);

        Assert.Equal("completed", updates[^1].GetProperty("status").GetString());
        Assert.Contains(updates, u => u.GetProperty("kind").GetString() == "step");
        var briefing = (await web.Client.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/briefing"))!;
        Assert.Equal(3, briefing["sections"]!.AsArray().Count);
        var detail = (await web.Client.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}"))!;
        Assert.Equal("completed", (string?)detail["status"]);
        Assert.Equal(2, (int?)detail["settings"]!["items_per_feed"]);
        var briefings = (await web.Client.GetFromJsonAsync<JsonArray>("/api/briefings?user_id=42"))!;
        Assert.Contains(briefings, b => (string?)b!["run_id"] == runId);
    }

    [Fact]
    public async Task Api_StartRun_RefusesUnknownPluginsAndInvalidSettingsWithEveryPath()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-invalid"));

        using var unknown = await web.Client.PostAsJsonAsync("/api/runs", new { plugin = "../../etc/passwd" });
        using var invalid = await web.Client.PostAsJsonAsync("/api/runs", new { plugin = "daily-news-digest", settings = new { topics = Array.Empty<string>(), summary_length = "endless" } });

        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown plugin", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var body = (await invalid.Content.ReadFromJsonAsync<JsonObject>())!;
        var paths = body["errors"]!.AsArray().Select(e => (string?)e!["path"]).ToList();
        Assert.Contains(paths, p => p!.Contains("topics", StringComparison.Ordinal));
        Assert.Contains(paths, p => p!.Contains("summary_length", StringComparison.Ordinal));
        var runs = (await web.Client.GetFromJsonAsync<JsonObject>("/api/runs"))!;
        Assert.Equal(0, (int?)runs["total"]);
    }

    [Fact]
    public async Task ProbePathsOfTheManifests_AnswerOnTheRunningHosts()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-probes"));
        using var sidecar = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{environment.SidecarPort}/") };
        var manifests = new[] { ("sidecar.yaml", sidecar), ("web.yaml", web.Client) };

        foreach (var (file, client) in manifests)
        {
            var container = Yaml.LoadAll(Path.Combine(Repository.Deploy, "k8s", "base", file))
                .Single(d => d.Text("kind") == "Deployment")
                .At("spec.template.spec.containers.0");
            foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
            {
                var path = container.Text($"{probe}.httpGet.path")!;
                using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{file} {probe} {path}: {(int)response.StatusCode}");
            }
        }

        using var metrics = await sidecar.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task Page_InHeadlessChromium_RunsAPluginLiveAndRendersItsBriefingAsText()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-page"));
        using var browser = Browser.Start();
        const string Injected = "<img src=x onerror=\"document.body.dataset.injected='yes'\">";

        browser.Open(web.Address);
        browser.WaitFor(d => d.FindElements(OpenQA.Selenium.By.CssSelector("#plugin option")).Count >= 2, "the plugin list");
        browser.Select("#plugin", "briefer");
        browser.WaitFor(d => d.FindElements(OpenQA.Selenium.By.CssSelector("#settings [name]")).Count == 0, "the briefer's (empty) settings form");
        browser.Select("#plugin", "feed-digest");
        browser.WaitFor(d => d.FindElements(OpenQA.Selenium.By.CssSelector("#settings textarea[name=feeds]")).Count == 1, "the feed-digest settings form");
        browser.Click("#start-button");

        browser.WaitFor(d => d.FindElement(OpenQA.Selenium.By.Id("run-status")).Text == "completed", "the run to complete", TimeSpan.FromSeconds(60));
        browser.WaitFor(d => d.FindElement(OpenQA.Selenium.By.Id("briefing")).Displayed, "the briefing");
        Assert.Equal(3, browser.Driver.FindElements(OpenQA.Selenium.By.CssSelector("#briefing-sections section")).Count);
        browser.WaitFor(d => d.FindElements(OpenQA.Selenium.By.CssSelector("#progress li")).Count > 0, "the run's progress", TimeSpan.FromSeconds(30));
        browser.Screenshot(Path.Combine(Repository.TestOutput, "web-page-briefing.png"));

        // Plugin output is text, never markup: a briefing carrying HTML shows it literally and runs nothing.
        using var start = await web.Client.PostAsJsonAsync("/api/runs", new { plugin = "briefer", settings = new { who = Injected } });
        var runId = (string)(await start.Content.ReadFromJsonAsync<JsonObject>())!["run_id"]!;
        browser.Open(web.Address);
        browser.WaitFor(d => d.FindElements(OpenQA.Selenium.By.CssSelector($"#runs-body tr[data-run-id='{runId}'] button")).Count == 1, "the run in the table", TimeSpan.FromSeconds(30));
        browser.Click($"#runs-body tr[data-run-id='{runId}'] button");
        browser.WaitFor(d => d.FindElement(OpenQA.Selenium.By.Id("briefing")).Displayed, "the injected briefing", TimeSpan.FromSeconds(60));

        Assert.Contains(Injected, browser.Driver.FindElement(OpenQA.Selenium.By.Id("briefing-summary")).Text, StringComparison.Ordinal);
        Assert.Empty(browser.Driver.FindElements(OpenQA.Selenium.By.CssSelector("#briefing img")));
        Assert.Null(browser.Driver.FindElement(OpenQA.Selenium.By.TagName("body")).GetDomAttribute("data-injected"));
        browser.Screenshot(Path.Combine(Repository.TestOutput, "web-page-escaped.png"));
    }

    private static async Task<List<JsonElement>> ReadEventsAsync(HttpClient client, string runId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/runs/{runId}/events");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var updates = new List<JsonElement>();
        string? eventType = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventType = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                Assert.Equal("update", eventType);
                updates.Add(JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone());
            }
        }

        Assert.NotEmpty(updates);
        return updates;
    }
}
