using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using FirstSip.EndToEnd.Tests.Infrastructure;
using FirstSip.Plugins;
using OpenQA.Selenium;

namespace FirstSip.EndToEnd.Tests;

/// <summary>The web host's schedules API and page against a real Redis, the real sidecar and a real SQLite database.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class ScheduleWebTests(EndToEndEnvironment environment)
{
    [Fact]
    public async Task Api_Schedules_AddListTriggerPauseResumeRemove_WithNextRunsInTheUsersZone()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-schedules"));

        using var page = await web.Client.GetAsync("/schedules.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("schedules.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var add = await web.Client.PostAsJsonAsync("/api/schedules", new { plugin = "feed-digest", user_id = "9", frequency = "daily", time = "07:15", time_zone = "Asia/Tokyo" });
        Assert.True(add.StatusCode == HttpStatusCode.Created, await add.Content.ReadAsStringAsync());
        var schedule = (await add.Content.ReadFromJsonAsync<JsonObject>())!;
        var id = (string)schedule["schedule_id"]!;
        Assert.Equal("15 7 * * *", (string?)schedule["cron"]);

        var listed = (await web.Client.GetFromJsonAsync<JsonArray>("/api/schedules?user_id=9"))!;
        var upcoming = Assert.Single(listed)!["upcoming"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(3, upcoming.Count);
        Assert.All(upcoming, at => Assert.EndsWith("T07:15:00+09:00", at, StringComparison.Ordinal));

        using var trigger = await web.Client.PostAsync($"/api/schedules/{id}/trigger", null);
        Assert.True(trigger.StatusCode == HttpStatusCode.Accepted, await trigger.Content.ReadAsStringAsync());
        var runId = Guid.Parse((string)(await trigger.Content.ReadFromJsonAsync<JsonObject>())!["run_id"]!);
        var run = await SampleDatabase.WaitForRunAsync(web.Database, runId, r => r.Status.IsTerminal(), TimeSpan.FromSeconds(60), "finished");
        Assert.Equal(PluginRunStatus.Completed, run.Status);
        Assert.NotNull(await SampleDatabase.FindBriefingAsync(web.Database, runId));

        using var pause = await web.Client.PostAsync($"/api/schedules/{id}/pause", null);
        var paused = (await pause.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.False((bool)paused["enabled"]!);
        Assert.Empty(paused["upcoming"]!.AsArray());
        using var resume = await web.Client.PostAsync($"/api/schedules/{id}/resume", null);
        Assert.True((bool)(await resume.Content.ReadFromJsonAsync<JsonObject>())!["enabled"]!);

        using var bad = await web.Client.PostAsJsonAsync("/api/schedules", new { plugin = "feed-digest", user_id = "9", cron = "* * *", time_zone = "UTC" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("fields", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var remove = await web.Client.DeleteAsync($"/api/schedules/{id}");
        Assert.Equal(HttpStatusCode.NoContent, remove.StatusCode);
        using var gone = await web.Client.GetAsync($"/api/schedules/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Page_AddsAUsersSchedule_ShowsItsNextRunsInItsZone_PausesAndRemovesIt()
    {
        await using var web = await WebHost.StartAsync(environment.Default, environment.NewDatabase("web-schedules-page"));
        using var browser = Browser.Start();

        browser.Open(new Uri(web.Address, "schedules.html"));
        browser.WaitFor(d => d.FindElements(By.CssSelector("#schedule-plugin option")).Count >= 2, "the plugin list");
        browser.WaitFor(d => d.FindElement(By.Id("schedules-empty")).Displayed, "the empty list");
        Type(browser, "schedule-user", "11");
        browser.Select("#schedule-plugin", "feed-digest");
        Type(browser, "schedule-time", "06:00");
        Type(browser, "schedule-zone", "America/New_York");
        browser.Click("#schedule-add-button");

        browser.WaitFor(d => d.FindElements(By.CssSelector("#schedules-body tr")).Count == 1, "the new schedule in the table");
        var row = browser.Driver.FindElement(By.CssSelector("#schedules-body tr"));
        Assert.Contains("0 6 * * * in America/New_York", row.Text, StringComparison.Ordinal);
        var next = row.FindElements(By.CssSelector("ol li")).Select(li => li.Text).ToList();
        Assert.Equal(3, next.Count);
        Assert.All(next, text => Assert.Matches(@"^\d{4}-\d{2}-\d{2} 06:00 \(-0[45]:00\)$", text));
        Assert.Equal("active", row.FindElements(By.TagName("td"))[3].Text);

        browser.Click("#schedules-body button[data-action=pause]");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#schedules-body button[data-action=resume]")).Count == 1, "the paused schedule");
        Assert.StartsWith("paused", browser.Driver.FindElements(By.CssSelector("#schedules-body td"))[3].Text, StringComparison.Ordinal);

        browser.Click("#schedules-body button[data-action=remove]");
        browser.WaitFor(d => d.FindElements(By.CssSelector("#schedules-body tr")).Count == 0, "the schedule to be removed");
        Assert.Empty((await web.Client.GetFromJsonAsync<JsonArray>("/api/schedules?user_id=11"))!);
    }

    private static void Type(Browser browser, string id, string text)
    {
        var input = browser.Driver.FindElement(By.Id(id));
        input.Clear();
        input.SendKeys(text);
    }
}
