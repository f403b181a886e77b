using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using FirstSip.EndToEnd.Tests.Infrastructure;
using OpenQA.Selenium;
using StackExchange.Redis;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// The operations dashboard in headless Chromium, every view with a screenshot in the test output folder, against a
/// real sidecar: injection attempts in a plugin's error and in a dead letter's fields render as text, a dead-lettered
/// request replayed from the page runs, a failed run retried from the page completes as attempt 2; plus the worker
/// registry (a killed sidecar leaves the list and its consumer is removed), read-only mode and the bind check.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OperationsDashboardTests(EndToEndEnvironment environment)
{
    private const string Hostile = "<img src=x onerror=\"document.body.dataset.injected='yes'\"><script>document.body.dataset.injected='yes'</script>";

    private static async Task<string> StartRunAsync(WebHost web, string plugin, object settings)
    {
        using var start = await web.Client.PostAsJsonAsync("/api/runs", new { plugin, settings });
        Assert.True(start.StatusCode == HttpStatusCode.Created, await start.Content.ReadAsStringAsync());
        return (string)(await start.Content.ReadFromJsonAsync<JsonObject>())!["run_id"]!;
    }

    private static async Task<JsonObject> WaitRunAsync(WebHost web, string runId, string status, int attempt = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonObject? run = null;
        while (DateTime.UtcNow < deadline)
        {
            run = await web.Client.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}");
            if ((string?)run!["status"] == status && (int)run["attempt"]! == attempt)
            {
                return run;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"run {runId} did not reach {status} (attempt {attempt}); last: {run}");
    }

    /// <summary>Clicks an element, finding it again when a live refresh replaced it between the find and the click.</summary>
    private static void Click(Browser browser, string selector) =>
        browser.WaitFor(d =>
        {
            d.FindElement(By.CssSelector(selector)).Click();
            return true;
        }, $"a click on {selector}");

    private static void Shot(Browser browser, string name) =>
        browser.Screenshot(Path.Combine(Repository.TestOutput, $"ops-{name}.png"));

    private static void AssertNothingInjected(Browser browser)
    {
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#view img, #view script")));
        Assert.Null(browser.Driver.FindElement(By.TagName("body")).GetDomAttribute("data-injected"));
    }

    [Fact]
    public async Task Dashboard_EveryView_RendersHostileTextAsText_ReplaysADeadLetter_AndRetriesAFailedRun()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("ops"));
        var lane = environment.Default;

        // A run whose plugin fails with hostile error text, one that completes, and one whose request is dead-lettered.
        var failing = await StartRunAsync(web, "fails-first", new { message = Hostile });
        var completing = await StartRunAsync(web, "echo", new { greeting = "hi" });
        var lettered = await StartRunAsync(web, "fails-first", new { message = "dead-lettered on its first attempt" });
        await WaitRunAsync(web, failing, "failed");
        await WaitRunAsync(web, completing, "completed");
        await WaitRunAsync(web, lettered, "failed");
        var request = (await environment.ReadStreamAsync(lane.RequestsStream))
            .Last(e => ((string?)e["payload"])!.Contains(lettered, StringComparison.Ordinal));
        var letterId = (string)(await environment.Redis.Database.StreamAddAsync(lane.RequestsStream + ":dead", [
            .. request.Values,
            new NameValueEntry("dead_reason", Hostile),
            new NameValueEntry("<b onmouseover=alert(1)>field</b>", Hostile),
            new NameValueEntry("dead_original_id", request.Id),
            new NameValueEntry("dead_group", "crewai-workers"),
            new NameValueEntry("dead_consumer", "<i>worker</i>"),
            new NameValueEntry("dead_at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        ]))!;

        using var browser = Browser.Start();
        var ops = new Uri(web.Address, "/ops/");

        // Overview: the counters, the chart of the last hour and the failure breakdown (with the hostile reason as text).
        browser.Open(ops);
        browser.WaitFor(d => d.FindElement(By.Id("view")).GetDomAttribute("data-view") == "overview", "the overview");
        browser.WaitFor(d => d.FindElement(By.Id("live")).GetDomAttribute("class") == "on", "the live event stream");
        browser.WaitFor(d => d.FindElement(By.Id("overview-failures")).Text.Contains("onerror", StringComparison.Ordinal), "the hostile reason in the failures");
        Assert.NotEmpty(browser.Driver.FindElements(By.CssSelector("#activity-chart rect.completed")));
        Assert.NotEmpty(browser.Driver.FindElements(By.CssSelector("#activity-chart rect.failed")));
        AssertNothingInjected(browser);
        Shot(browser, "overview");

        // Queues and workers.
        Click(browser, "#nav-queues");
        browser.WaitFor(d => d.FindElements(By.CssSelector($"#queues-table tr[data-stream='{lane.RequestsStream}']")).Count == 1, "the request stream's group");
        Shot(browser, "queues");
        Click(browser, "#nav-workers");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#workers-table tbody tr")).Count >= 1, "the live sidecar");
        browser.WaitFor(d => d.FindElement(By.Id("workers-table")).Text.Contains("fails-first", StringComparison.Ordinal), "the worker's plugins");
        Shot(browser, "workers");

        // Runs: full-text search over the error finds the hostile run; its detail shows the error as text.
        Click(browser, "#nav-runs");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#runs-search input[name=q]")).Count == 1, "the search form");
        browser.WaitFor(d =>
        {
            d.FindElement(By.CssSelector("#runs-search input[name=q]")).SendKeys("onerror");
            return true;
        }, "typing into the search box");
        Click(browser, "#runs-search button");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#runs-table tbody tr")).Count == 1, "the search result");
        Assert.NotNull(browser.Driver.FindElement(By.CssSelector($"#runs-table tr[data-run-id='{failing}']")));
        AssertNothingInjected(browser);
        Shot(browser, "runs-search");

        Click(browser, $"#runs-table tr[data-run-id='{failing}'] a");
        browser.WaitFor(d => d.FindElements(By.Id("run-error")).Count == 1, "the run's detail");
        string error = "";
        browser.WaitFor(d => (error = d.FindElement(By.Id("run-error")).Text).Length > 0, "the run's error");
        Assert.Equal("ValueError: " + Hostile, error);
        AssertNothingInjected(browser);
        Shot(browser, "run-failed");

        // Retry as a new attempt: the same run completes as attempt 2, and the timeline shows both attempts.
        Click(browser, "#retry-run");
        var retried = await WaitRunAsync(web, failing, "completed", attempt: 2);
        Assert.Equal(failing, (string?)retried["run_id"]);
        browser.WaitFor(d => d.FindElements(By.CssSelector("#timeline-table tr[data-kind='completed']")).Count == 1, "the retried run's end in the timeline", TimeSpan.FromSeconds(30));
        List<string> attempts = [];
        browser.WaitFor(d => (attempts = d.FindElements(By.CssSelector("#timeline-table tr[data-kind='started'] td:nth-child(3)")).Select(e => e.Text).ToList()).Count == 2, "both attempts' starts");
        Assert.Equal(["1", "2"], attempts);
        Shot(browser, "run-timeline");

        // Dead letters: the hostile fields are text; replaying the request runs its run again, which completes.
        Click(browser, "#nav-dead");
        browser.WaitFor(d => d.FindElements(By.CssSelector($"#dead-table tr[data-entry-id='{letterId}']")).Count == 1, "the dead letter");
        Click(browser, $"#dead-table tr[data-entry-id='{letterId}'] .show-fields");
        string fields = "";
        browser.WaitFor(d => (fields = d.FindElement(By.CssSelector($"#dead-table tr[data-fields-of='{letterId}']")).Text).Length > 0, "the letter's fields");
        Assert.Contains("<b onmouseover=alert(1)>field</b>", fields, StringComparison.Ordinal);
        Assert.Contains("<script>", fields, StringComparison.Ordinal);
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#dead-table b, #dead-table i")));
        AssertNothingInjected(browser);
        Shot(browser, "dead-letters");

        Click(browser, $"#dead-table tr[data-entry-id='{letterId}'] .replay");
        browser.WaitFor(d => d.FindElement(By.Id("dead-notice")).Text.Contains("attempt 2", StringComparison.Ordinal), "the replay's notice");
        await WaitRunAsync(web, lettered, "completed", attempt: 2);
        Assert.Equal(0, await environment.Redis.Database.StreamLengthAsync(lane.RequestsStream + ":dead"));
        AssertNothingInjected(browser);
        Shot(browser, "dead-letters-replayed");
    }

    [Fact]
    public async Task KilledSidecar_LeavesTheWorkerListWithinItsTtl_AndItsConsumerIsRemovedOnceItHoldsNothing()
    {
        var lane = environment.NewLane();
        await using var web = await WebHost.StartAsync(lane, environment.NewDatabase("ops-workers"), new Dictionary<string, string?>
        {
            ["FirstSip__Operations__ConsumerSweepInterval"] = "00:00:00.500",
            ["FirstSip__Operations__ConsumerIdleTime"] = "00:00:03",
        });
        var (sidecar, _) = await Sidecar.StartAsync("sidecar-killed", lane, new Dictionary<string, string?> { ["SIDECAR_WORKER_TTL_SECONDS"] = "2" });
        await using (sidecar)
        {
            // A consumer joins its group with its first entry.
            await WaitRunAsync(web, await StartRunAsync(web, "echo", new { greeting = "hi" }), "completed");
            var workers = await web.Client.GetFromJsonAsync<JsonArray>("/ops/api/workers");
            var consumer = (string)Assert.Single(workers!)!["consumer_name"]!;
            Assert.Contains(consumer, await ConsumersAsync(web, lane), StringComparer.Ordinal);

            await sidecar.KillAsync();
            var killedAt = DateTime.UtcNow;
            while ((await web.Client.GetFromJsonAsync<JsonArray>("/ops/api/workers"))!.Count > 0)
            {
                Assert.True(DateTime.UtcNow - killedAt < TimeSpan.FromSeconds(3), "the killed worker is still listed after its TTL");
                await Task.Delay(100);
            }

            // It held nothing: once idle past the threshold the sweeper removes it from the group.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await ConsumersAsync(web, lane)).Contains(consumer, StringComparer.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, "the killed worker's consumer was not removed");
                await Task.Delay(250);
            }
        }
    }

    private static async Task<List<string>> ConsumersAsync(WebHost web, Lane lane)
    {
        var streams = await web.Client.GetFromJsonAsync<JsonArray>("/ops/api/queues");
        var requests = streams!.Single(s => (string?)s!["stream_name"] == lane.RequestsStream)!;
        return requests["groups"]!.AsArray().SelectMany(g => g!["consumers"]!.AsArray()).Select(c => (string)c!["consumer_name"]!).ToList();
    }

    [Fact]
    public async Task Dashboard_ReadOnly_RefusesActions_AndShowsNoButtons()
    {
        await using var web = await WebHost.StartAsync(environment.NewLane(), environment.NewDatabase("ops-read-only"),
            new Dictionary<string, string?> { ["FirstSip__Dashboard__ReadOnly"] = "true" });
        var runId = await StartRunAsync(web, "echo", new { greeting = "hi" });

        using var retry = await web.Client.PostAsync(new Uri($"/ops/api/runs/{runId}/cancel", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Forbidden, retry.StatusCode);
        using var browser = Browser.Start();
        browser.Open(new Uri(web.Address, $"/ops/#/run/{runId}"));
        browser.WaitFor(d => d.FindElements(By.Id("run-detail")).Count == 1, "the run's detail");
        Assert.False(browser.Driver.FindElement(By.Id("read-only")).GetDomProperty("hidden") == "true");
        Assert.Empty(browser.Driver.FindElements(By.CssSelector("#run-actions button")));
        Shot(browser, "read-only");
    }

    [Fact]
    public async Task WebHost_BoundBeyondLoopbackWithoutAPolicy_RefusesToStart()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => WebHost.StartAsync(
            environment.NewLane(),
            environment.NewDatabase("ops-exposed"),
            new Dictionary<string, string?> { ["ASPNETCORE_HTTP_PORTS"] = "0" },
            probe: "/health/live"));
        Assert.Contains("FirstSip:Dashboard:Policy", error.Message, StringComparison.Ordinal);

        // As the deployment manifests run it: the dashboard off, the rest of the host up.
        await using var web = await WebHost.StartAsync(
            environment.NewLane(),
            environment.NewDatabase("ops-off"),
            new Dictionary<string, string?> { ["ASPNETCORE_HTTP_PORTS"] = "0", ["FirstSip__Dashboard__Enabled"] = "false" },
            probe: "/health/live");
        using var config = await web.Client.GetAsync(new Uri("/ops/api/config", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, config.StatusCode);
    }
}
