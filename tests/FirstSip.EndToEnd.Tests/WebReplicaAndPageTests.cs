using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FirstSip.EndToEnd.Tests.Infrastructure;
using OpenQA.Selenium;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// Two web hosts behind one Redis and one database, as replicas behind a load balancer, and the page's rendering of
/// briefings and of an empty catalog (with screenshots in the test output folder).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class WebReplicaAndPageTests(EndToEndEnvironment environment)
{
    private static readonly string[] StatusOrder = ["pending", "dispatched", "running", "completed"];

    [Fact]
    public async Task TwoWebHosts_OnOneRedisAndDatabase_EveryEventOfARunReachesAWatcherOnEitherHost()
    {
        // Streams no sidecar serves yet: the watchers are listening before the run does anything.
        var lane = environment.NewLane();
        var database = environment.NewDatabase("replicas");
        await using var first = await WebHost.StartAsync(lane, database);
        await using var second = await WebHost.StartAsync(lane, database);
        using var start = await first.Client.PostAsJsonAsync("/api/runs", new { plugin = "daily-news-digest", settings = new { topics = new[] { "science" } } });
        Assert.True(start.StatusCode == HttpStatusCode.Created, await start.Content.ReadAsStringAsync());
        var runId = (string)(await start.Content.ReadFromJsonAsync<JsonObject>())!["run_id"]!;
        var watchers = new[] { first, second }.Select(host => ReadEventsAsync(host.Client, runId)).ToArray();
        await Task.WhenAll(watchers.Select(w => w.Connected));

        var (sidecar, _) = await Sidecar.StartAsync("sidecar-replicas", lane);
        await using (sidecar)
        {
            var published = await PublishedEventsAsync(lane, runId);
            foreach (var watcher in watchers)
            {
                var updates = await watcher.Updates.WaitAsync(TimeSpan.FromSeconds(90));

                // Every step the worker published, once each and in its order, whichever host consumed it.
                var steps = updates.Where(u => u.GetProperty("kind").GetString() == "step").Select(u => u.GetProperty("step").GetString()).ToList();
                Assert.Equal(published, steps);
                Assert.Contains(updates, u => u.GetProperty("kind").GetString() == "started");
                // Every transition, never going back; timestamps in order.
                var statuses = updates.Where(u => u.GetProperty("kind").GetString() == "status").Select(u => u.GetProperty("status").GetString()!).ToList();
                Assert.Equal(statuses.OrderBy(s => Array.IndexOf(StatusOrder, s)), statuses);
                Assert.Equal(StatusOrder[^3..], statuses.Distinct().TakeLast(3));
                var times = updates.Select(u => u.GetProperty("at").GetDateTimeOffset()).ToList();
                Assert.Equal(times.Order(), times);
            }
        }
    }

    [Fact]
    public async Task Page_RendersTheBriefingsMarkdown_AsSanitizedHtml()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-markdown"));
        using var browser = Browser.Start();

        browser.Open(web.Address);
        browser.WaitFor(d => d.FindElements(By.CssSelector("#plugin option")).Count >= 2, "the plugin list");
        browser.Select("#plugin", "feed-digest");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#settings textarea[name=feeds]")).Count == 1, "the feed-digest settings form");
        browser.Click("#start-button");
        browser.WaitFor(d => d.FindElement(By.Id("run-status")).Text == "completed", "the run to complete", TimeSpan.FromSeconds(60));
        browser.WaitFor(d => d.FindElements(By.CssSelector("#briefing-sections section li")).Count > 0, "the briefing's lists");

        // feed-digest writes "- **[title](https://…)** (date): text": a list of bold links, not Markdown source.
        var links = browser.Driver.FindElements(By.CssSelector("#briefing-sections li strong a[href^='https://example.org/']"));
        Assert.NotEmpty(links);
        Assert.All(links, link => Assert.Equal("noopener noreferrer nofollow", link.GetDomAttribute("rel")));
        Assert.DoesNotContain("**", browser.Driver.FindElement(By.Id("briefing")).Text, StringComparison.Ordinal);
        ((IJavaScriptExecutor)browser.Driver).ExecuteScript("document.getElementById('briefing').scrollIntoView({ block: 'start' })");
        browser.Screenshot(Path.Combine(Repository.TestOutput, "web-page-briefing-rendered.png"));

        // A link to script, raw HTML and an image in plugin output render as nothing that runs.
        const string Hostile = "[click](javascript:document.body.dataset.injected='yes') <script>document.body.dataset.injected='yes'</script> ![x](https://example.org/x.png)";
        using var start = await web.Client.PostAsJsonAsync("/api/runs", new { plugin = "briefer", settings = new { who = Hostile } });
        var runId = (string)(await start.Content.ReadFromJsonAsync<JsonObject>())!["run_id"]!;
        browser.Open(web.Address);
        browser.WaitFor(d => d.FindElements(By.CssSelector($"#runs-body tr[data-run-id='{runId}'] button")).Count == 1, "the run in the table", TimeSpan.FromSeconds(30));
        browser.Click($"#runs-body tr[data-run-id='{runId}'] button");
        browser.WaitFor(d => d.FindElement(By.Id("briefing")).Displayed, "the hostile briefing", TimeSpan.FromSeconds(60));

        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#briefing a[href^='javascript']")));
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#briefing script, #briefing img")));
        Assert.Contains("<script>", browser.Driver.FindElement(By.Id("briefing-summary")).Text, StringComparison.Ordinal);
        Assert.Null(browser.Driver.FindElement(By.TagName("body")).GetDomAttribute("data-injected"));
    }

    [Fact]
    public async Task Page_WithAnEmptyCatalog_SaysWhichFolderAndWhatToSet_AndTheHostIsNotReady()
    {
        var empty = Directory.CreateTempSubdirectory("firstsip-no-plugins-").FullName;
        try
        {
            await using var web = await WebHost.StartAsync(
                environment.Default,
                environment.NewDatabase("web-empty"),
                new Dictionary<string, string?> { ["FIRSTSIP_PLUGINS"] = empty },
                probe: "/health/live");
            using var browser = Browser.Start();

            using var ready = await web.Client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            browser.Open(web.Address);
            browser.WaitFor(d => d.FindElement(By.Id("catalog-problem")).Displayed, "the empty catalog's message");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var message = browser.Driver.FindElement(By.Id("catalog-problem")).Text;
            Assert.Contains(empty, message, StringComparison.Ordinal);
            Assert.Contains("FIRSTSIP_PLUGINS", message, StringComparison.Ordinal);
            Assert.False(browser.Driver.FindElement(By.Id("start-button")).Enabled);
            browser.Screenshot(Path.Combine(Repository.TestOutput, "web-page-empty-catalog.png"));
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    /// <summary>The step names the worker published for the run, in stream order, once the run has ended.</summary>
    private static async Task<List<string?>> PublishedEventsAsync(Lane lane, string runId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var results = await lane.Environment.ReadStreamAsync(lane.ResultsStream);
            if (results.Any(r => ((string)r["payload"]!).Contains(runId, StringComparison.Ordinal)))
            {
                return (await lane.Environment.ReadStreamAsync(lane.EventsStream))
                    .Select(e => JsonDocument.Parse((string)e["payload"]!).RootElement)
                    .Where(p => p.GetProperty("plugin_run_id").GetString() == runId && p.GetProperty("kind").GetString() == "step")
                    .Select(p => p.GetProperty("step").GetString())
                    .ToList();
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"no result for run {runId}");
    }

    private static EventWatch ReadEventsAsync(HttpClient client, string runId)
    {
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return new EventWatch(connected.Task, ReadAsync());

        async Task<List<JsonElement>> ReadAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/runs/{runId}/events");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var updates = new List<JsonElement>();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    updates.Add(JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone());
                    // The first update is the run's state when the watch began: from then on, nothing is missed.
                    connected.TrySetResult();
                }
            }

            return updates;
        }
    }

    private sealed record EventWatch(Task Connected, Task<List<JsonElement>> Updates);
}
