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

    public static void Catalog(IReadOnlyList<PluginDescriptor> plugins, string pluginDirectory)
    {
        if (plugins.Count == 0)
        {
            Error(EmptyCatalog(pluginDirectory));
            return;
        }

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
        AnsiConsole.MarkupLine($"[grey]* required. Start one with: {Markup.Escape(CommandPrefix)} run <plugin> --set key=value --wait[/]");
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

        AnsiConsole.MarkupLine($"[grey]Follow it with: {Markup.Escape(CommandPrefix)} show {run.RunId}[/]");
    }

    /// <summary>What to start so a run handed off by <c>run</c> (without <c>--wait</c>) finishes; nothing when all runs.</summary>
    public static void MissingProcesses(AppSideProbe.Presence presence, bool json)
    {
        var write = (string text) =>
        {
            if (json)
            {
                Console.Error.WriteLine($"warning: {text}");
            }
            else
            {
                AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(text)}[/]");
            }
        };
        if (presence.AppSide == 0)
        {
            write($"No app side runs (no worker or web host reads {presence.ResultsStream}): the run's result is applied only once one does. " +
                  $"Start one: {CommandPrefix} worker (or ./run web), or use --wait.");
        }

        if (presence.Workers == 0)
        {
            write($"No sidecar reads {presence.RequestsStream}: the run waits until one starts. Start one: ./run sidecar.");
        }
    }

    public static void Interrupted(PluginRun run, bool cancelled)
    {
        if (cancelled)
        {
            AnsiConsole.MarkupLine($"[yellow]Stopped watching and cancelled run {run.RunId}[/] (--cancel-on-exit).");
        }
        else
        {
            AnsiConsole.MarkupLine($"[yellow]Stopped watching.[/] Run {run.RunId} goes on (add --cancel-on-exit to cancel it instead); " +
                $"see it with: {Markup.Escape(CommandPrefix)} show {run.RunId}, stop it with: {Markup.Escape(CommandPrefix)} cancel {run.RunId}");
        }
    }

    /// <summary>Why the catalog is empty, and what to change.</summary>
    public static string EmptyCatalog(string pluginDirectory) =>
        (Directory.Exists(pluginDirectory)
            ? $"the plugin folder {pluginDirectory} has no plugin (a folder with a plugin.yaml)"
            : $"the plugin folder {pluginDirectory} does not exist")
        + "; set FIRSTSIP_PLUGINS (or FirstSip:Plugins in appsettings.json) to the folder that holds the plugins, e.g. the repository's plugins/";

    /// <summary>How the user calls this program: <c>./run cli</c> when started by the run script, the program's name otherwise.</summary>
    public static string CommandPrefix =>
        Environment.GetEnvironmentVariable("FIRSTSIP_CLI_NAME") is { Length: > 0 } name ? name : "FirstSip.Samples.Console";

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
        // The plugin writes Markdown: it is shown with terminal formatting, every piece of its text escaped.
        var rows = new List<Spectre.Console.Rendering.IRenderable> { new Markup($"[bold]{MarkdownMarkup.ToMarkup(briefing.Summary)}[/]") };
        foreach (var section in briefing.Sections)
        {
            rows.Add(new Text(string.Empty));
            rows.Add(new Markup($"[underline]{MarkdownMarkup.ToMarkup(section.Title)}[/]"));
            rows.Add(new Markup(MarkdownMarkup.ToMarkup(section.Content)));
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
        // A run id is never wrapped: the columns after it are shown as far as the terminal's width allows them.
        var columns = new List<(string Name, int Width, Func<PluginRun, Spectre.Console.Rendering.IRenderable> Cell)>
        {
            ("run", 36, run => new Text(run.RunId.ToString())),
            ("status", 9, run => new Markup(StatusMarkup(run.Status))),
            ("plugin", Math.Max(6, runs.Select(r => r.PluginName.Length).DefaultIfEmpty(0).Max()), run => new Text(run.PluginName)),
            ("created", 14, run => new Text(run.CreatedAt.ToLocalTime().ToString("MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture))),
            ("user", Math.Max(4, runs.Select(r => r.UserId.Length).DefaultIfEmpty(0).Max()), run => new Text(run.UserId)),
            ("step", 12, run => new Text(run.LastStep ?? string.Empty)),
        };
        var shown = new List<(string Name, int Width, Func<PluginRun, Spectre.Console.Rendering.IRenderable> Cell)>();
        var width = 1;
        foreach (var column in columns)
        {
            // Each column costs its text plus a border and two spaces of padding.
            if (shown.Count > 0 && width + column.Width + 3 > AnsiConsole.Profile.Width)
            {
                continue;
            }

            shown.Add(column);
            width += column.Width + 3;
        }

        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in shown)
        {
            table.AddColumn(new TableColumn(column.Name).NoWrap());
        }

        foreach (var run in runs)
        {
            table.AddRow(shown.Select(c => c.Cell(run)));
        }

        AnsiConsole.Write(table);
        var hidden = columns.Count - shown.Count;
        AnsiConsole.MarkupLine($"[grey]{runs.Count} of {total} runs{(hidden > 0 ? $"; {hidden} columns hidden at this width (--json has every field)" : string.Empty)}[/]");
    }
}
