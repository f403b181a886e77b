using System.Text.Json;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using Spectre.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>Everything the console host prints. Text from plugins and users is always escaped.</summary>
internal static class Output
{
    public static void Json<T>(T value) =>
        Console.Out.WriteLine(JsonSerializer.Serialize(value, RunRecord.JsonOptions));

    public static void Error(string message) =>
        AnsiConsole.Console.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");

    public static string StatusMarkup(PluginRunStatus status)
    {
        var text = status.ToWireString();
        var color = status switch
        {
            PluginRunStatus.Completed => "green",
            PluginRunStatus.Failed or PluginRunStatus.TimedOut => "red",
            PluginRunStatus.Cancelled => "yellow",
            _ => "blue",
        };
        return $"[{color}]{text}[/]";
    }

    public static void Catalog(IEnumerable<PluginDescriptor> plugins)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("plugin").AddColumn("runtime").AddColumn("timeout").AddColumn("settings (default)");
        foreach (var plugin in plugins)
        {
            var record = PluginRecord.From(plugin);
            var settings = string.Join('\n', record.Settings.Select(s =>
                $"[bold]{Markup.Escape(s.Name)}[/]{(s.Required ? "*" : string.Empty)} {Markup.Escape(s.Type)}"
                + (s.Default is null ? string.Empty : $" [grey]({Markup.Escape(s.Default)})[/]")));
            table.AddRow(
                new Markup($"[bold]{Markup.Escape(plugin.Name)}[/] {Markup.Escape(plugin.Version)}\n[grey]{Markup.Escape(plugin.Description)}[/]"),
                new Text(plugin.Runtime),
                new Text(plugin.Timeout is { } t ? $"{t.TotalSeconds:0} s" : "default"),
                new Markup(settings.Length == 0 ? "[grey]none[/]" : settings));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]* required. Start one with: run <plugin> --set key=value --wait[/]");
    }

    public static void SettingsErrors(InvalidPluginSettingsException e)
    {
        Error($"invalid settings for plugin {e.PluginName}:");
        foreach (var error in e.Errors)
        {
            AnsiConsole.MarkupLine($"  [bold]{Markup.Escape(error.Path)}[/]: {Markup.Escape(error.Message)}");
        }
    }

    public static void Started(PluginRun run, bool json)
    {
        if (json)
        {
            Json(RunRecord.From(run));
            return;
        }

        AnsiConsole.MarkupLine($"Run [bold]{run.RunId}[/] of [bold]{Markup.Escape(run.PluginName)}[/]: {StatusMarkup(run.Status)}");
        if (run.Status == PluginRunStatus.Pending)
        {
            AnsiConsole.MarkupLine("[yellow]Redis is not reachable: the run is stored and is dispatched when a host with Redis runs (for example `worker`).[/]");
        }

        AnsiConsole.MarkupLine($"[grey]Follow it with: show {run.RunId}[/]");
    }

    public static void Interrupted(PluginRun run) =>
        AnsiConsole.MarkupLine($"[yellow]Stopped watching.[/] Run {run.RunId} goes on; see it with: show {run.RunId}");

    public static void Finished(PluginRun run, Briefing? briefing, bool json)
    {
        if (json)
        {
            Json(RunRecord.From(run));
            return;
        }

        var duration = run.CompletedAt is { } end ? $" in {(end - run.CreatedAt).TotalSeconds:0.0} s" : string.Empty;
        AnsiConsole.MarkupLine($"Run [bold]{run.RunId}[/] of [bold]{Markup.Escape(run.PluginName)}[/]: {StatusMarkup(run.Status)}{duration}");
        if (run.Error is { Length: > 0 } error)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(error)}[/]");
        }

        if (briefing is not null)
        {
            Briefing(briefing);
        }
        else if (run.Output is { Length: > 0 } output)
        {
            AnsiConsole.Write(new Panel(new Text(output)).Header("output"));
        }
    }

    public static void Briefing(Briefing briefing)
    {
        var rows = new List<Spectre.Console.Rendering.IRenderable> { new Markup($"[bold]{Markup.Escape(briefing.Summary)}[/]") };
        foreach (var section in briefing.Sections)
        {
            rows.Add(new Text(string.Empty));
            rows.Add(new Markup($"[underline]{Markup.Escape(section.Title)}[/]"));
            rows.Add(new Text(section.Content));
        }

        AnsiConsole.Write(new Panel(new Rows(rows)).Header("briefing").Border(BoxBorder.Rounded).Expand());
    }

    /// <summary>One line on the queue, one on the request stream.</summary>
    public static void Queue(PluginQueueState queue, DateTimeOffset now)
    {
        var oldest = queue.OldestWaitingSince is { } since ? $", the oldest for {Duration(now - since)}" : string.Empty;
        AnsiConsole.MarkupLine($"queue: {queue.Waiting} waiting for a worker{oldest}, {queue.Running} running, {queue.Pending} not yet published");
        if (queue.Stream is { } stream)
        {
            var undelivered = stream.Undelivered is { } lag ? lag.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(stream.StreamName)} (group {Markup.Escape(stream.GroupName)}, {stream.Consumers} consumers): " +
                $"{undelivered} not yet delivered, {stream.Delivered} delivered and not finished, {stream.Length} entries[/]");
        }
        else
        {
            AnsiConsole.MarkupLine($"[yellow]request stream unknown: {Markup.Escape(queue.StreamError ?? "Redis unreachable")}[/]");
        }
    }

    /// <summary>How long a run not yet started has waited, and what is ahead of it.</summary>
    public static void Waiting(PluginRun run, PluginQueueState queue, DateTimeOffset now) =>
        AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(WaitingText(run, queue.Ahead, now))}[/]");

    public static string WaitingText(PluginRun run, int? ahead, DateTimeOffset now)
    {
        if (run.Status == PluginRunStatus.Pending)
        {
            return $"not yet published (created {Duration(now - run.CreatedAt)} ago): the app's dispatcher publishes it when Redis is reachable and a host (worker or web) runs";
        }

        var waited = Duration(now - (run.DispatchedAt ?? run.CreatedAt));
        var queued = ahead is > 0 ? $", {ahead} runs ahead of it" : string.Empty;
        return $"waiting for a worker for {waited}{queued}";
    }

    public static string Duration(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min"
        : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds} s"
        : $"{Math.Max(0, span.TotalSeconds):0} s";

    public static void RunsTable(IReadOnlyList<PluginRun> runs, int total)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("run").AddColumn("plugin").AddColumn("user").AddColumn("status").AddColumn("step").AddColumn("created");
        foreach (var run in runs)
        {
            table.AddRow(
                new Text(run.RunId.ToString()),
                new Text(run.PluginName),
                new Text(run.UserId),
                new Markup(StatusMarkup(run.Status)),
                new Text(run.LastStep ?? string.Empty),
                new Text(run.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{runs.Count} of {total} runs[/]");
    }
}
