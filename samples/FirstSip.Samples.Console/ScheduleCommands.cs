using System.CommandLine;
using System.Globalization;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>
/// <c>schedules add|list|show|pause|resume|remove|trigger|preview</c>: recurring runs per user, kept in the sample's
/// database and fired by the scheduler inside <c>worker</c> (each occurrence once, however many workers run).
/// </summary>
internal static class ScheduleCommands
{
    private const int ExitCompleted = 0;
    private const int ExitNotFound = 1;
    private const int ExitRefused = 2;

    private static readonly string[] ListColumns = ["schedule", "user", "plugin", "cron", "zone", "next (zone time)", "state"];

    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON instead of tables." };

    public static Command Schedules()
    {
        var command = new Command("schedules", "Recurring runs: add, list, show, pause, resume, remove, trigger or preview a schedule. The `worker` fires them.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Change("pause", "Pause a schedule: it fires nothing until resumed.", (s, id, ct) => s.PauseAsync(id, "paused from the console", ct)));
        command.Subcommands.Add(Change("resume", "Resume a paused schedule from its next occurrence (missed ones are not fired).", (s, id, ct) => s.ResumeAsync(id, ct)));
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(Trigger());
        command.Subcommands.Add(Preview());
        return command;
    }

    private static Command Add()
    {
        var plugin = new Argument<string>("plugin") { Description = "The plugin to run, as listed by `plugins`." };
        var cron = new Option<string?>("--cron") { Description = "A cron expression: five fields (minute hour day month weekday) or six (seconds first)." };
        var daily = new Option<string?>("--daily") { Description = "Every day at HH:MM (the original system's frequency=daily, preferred_time)." };
        var weekly = new Option<string?>("--weekly") { Description = "Every week at HH:MM on --day (frequency=weekly)." };
        var day = new Option<DayOfWeek>("--day") { Description = "The day of a weekly schedule.", DefaultValueFactory = _ => DayOfWeek.Monday };
        var zone = new Option<string>("--zone") { Description = "The IANA time zone the times are in.", DefaultValueFactory = _ => "UTC" };
        var user = new Option<string>("--user") { Description = "The user the runs are for.", DefaultValueFactory = _ => "1" };
        var set = new Option<string[]>("--set") { Description = "A setting as key=value (repeatable), as for `run`.", AllowMultipleArgumentsPerToken = false };
        var misfire = new Option<string>("--misfire") { Description = "Missed occurrences: skip, run_once or run_each.", DefaultValueFactory = _ => "run_once" };
        var cap = new Option<int>("--max-misfire-runs") { Description = "The most missed occurrences run_each fires.", DefaultValueFactory = _ => 10 };
        var overlap = new Option<string>("--overlap") { Description = "When the previous run has not ended: skip, allow or cancel_previous.", DefaultValueFactory = _ => "skip" };
        var paused = new Option<bool>("--paused") { Description = "Create the schedule paused." };
        var command = new Command(
            "add",
            "Add a schedule. Without --cron, --daily or --weekly, the time comes from the settings' frequency and preferred_time (the original system's).")
        {
            plugin, cron, daily, weekly, day, zone, user, set, misfire, cap, overlap, paused, JsonOption,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var catalog = host.Services.GetRequiredService<IPluginCatalog>();
            var pluginName = parse.GetValue(plugin)!;
            try
            {
                var settings = SettingsParser.Parse(parse.GetValue(set) ?? [], catalog.GetPlugin(pluginName));
                var expression = parse.GetValue(cron)
                    ?? (parse.GetValue(daily) is { } dailyAt ? PluginScheduleCron.FromOriginalSettings("daily", dailyAt) : null)
                    ?? (parse.GetValue(weekly) is { } weeklyAt ? PluginScheduleCron.FromOriginalSettings("weekly", weeklyAt, parse.GetValue(day)) : null)
                    ?? (catalog.GetPlugin(pluginName) is not null
                        ? ScheduleRecord.CronFromSettings(catalog.ValidateSettings(pluginName, settings).Settings, parse.GetValue(day))
                        : null);
                if (expression is null)
                {
                    Output.Error("say when: --cron, --daily HH:MM or --weekly HH:MM (the plugin's settings have no frequency and preferred_time)");
                    return ExitRefused;
                }

                await using var scope = host.Services.CreateAsyncScope();
                var schedule = await scope.ServiceProvider.GetRequiredService<IPluginScheduler>().CreateAsync(
                    new CreatePluginScheduleRequest
                    {
                        PluginName = pluginName,
                        UserId = parse.GetValue(user)!,
                        Settings = settings,
                        CronExpression = expression,
                        TimeZone = parse.GetValue(zone)!,
                        MisfirePolicy = ScheduleRecord.ParseMisfire(parse.GetValue(misfire)!),
                        MaxMisfireRuns = parse.GetValue(cap),
                        OverlapPolicy = ScheduleRecord.ParseOverlap(parse.GetValue(overlap)!),
                        Enabled = !parse.GetValue(paused),
                    },
                    cancellationToken).ConfigureAwait(false);
                Print(schedule, 3, parse.GetValue(JsonOption));
                return ExitCompleted;
            }
            catch (InvalidPluginSettingsException e)
            {
                Output.SettingsErrors(e);
                return ExitRefused;
            }
            catch (Exception e) when (e is FirstSipException or FormatException)
            {
                Output.Error(e.Message);
                return ExitRefused;
            }
        });
        return command;
    }

    private static Command List()
    {
        var user = new Option<string?>("--user") { Description = "Only this user's schedules." };
        var plugin = new Option<string?>("--plugin") { Description = "Only this plugin's schedules." };
        var command = new Command("list", "List schedules with their next run time in their own zone.") { user, plugin, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var schedules = await scope.ServiceProvider.GetRequiredService<IPluginScheduler>()
                .ListAsync(new PluginScheduleQuery { UserId = parse.GetValue(user), PluginName = parse.GetValue(plugin), Take = 1000 }, cancellationToken)
                .ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            if (parse.GetValue(JsonOption))
            {
                Output.Json(schedules.Select(s => ScheduleRecord.From(s, 0, now)));
                return ExitCompleted;
            }

            var table = new Table().Border(TableBorder.Rounded);
            foreach (var column in ListColumns)
            {
                table.AddColumn(new TableColumn(column).NoWrap());
            }

            foreach (var schedule in schedules)
            {
                var record = ScheduleRecord.From(schedule, 0, now);
                table.AddRow(
                    new Text(schedule.ScheduleId.ToString()),
                    new Text(schedule.UserId),
                    new Text(schedule.PluginName),
                    new Text(schedule.CronExpression),
                    new Text(schedule.TimeZone),
                    new Text(record.NextFireAt is { } next ? Local(next) : "-"),
                    new Markup(schedule.Enabled ? "[green]active[/]" : $"[yellow]paused[/] {Markup.Escape(schedule.PausedReason ?? string.Empty)}"));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{schedules.Count} schedules; the `worker` fires them[/]");
            return ExitCompleted;
        });
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<Guid>("schedule-id") { Description = "The schedule's id." };
        var command = new Command("show", "Show one schedule, with its next occurrences in its zone.") { id, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var schedule = await scope.ServiceProvider.GetRequiredService<IPluginScheduler>().GetAsync(parse.GetValue(id), cancellationToken).ConfigureAwait(false);
            if (schedule is null)
            {
                Output.Error($"no schedule with id {parse.GetValue(id)}");
                return ExitNotFound;
            }

            Print(schedule, 5, parse.GetValue(JsonOption));
            return ExitCompleted;
        });
        return command;
    }

    private static Command Change(string name, string description, Func<IPluginScheduler, Guid, CancellationToken, Task<PluginSchedule?>> change)
    {
        var id = new Argument<Guid>("schedule-id") { Description = "The schedule's id." };
        var command = new Command(name, description) { id, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            try
            {
                var schedule = await change(scope.ServiceProvider.GetRequiredService<IPluginScheduler>(), parse.GetValue(id), cancellationToken).ConfigureAwait(false);
                if (schedule is null)
                {
                    Output.Error($"no schedule with id {parse.GetValue(id)}");
                    return ExitNotFound;
                }

                Print(schedule, 3, parse.GetValue(JsonOption));
                return ExitCompleted;
            }
            catch (FirstSipException e)
            {
                Output.Error(e.Message);
                return ExitRefused;
            }
        });
        return command;
    }

    private static Command Remove()
    {
        var id = new Argument<Guid>("schedule-id") { Description = "The schedule's id." };
        var command = new Command("remove", "Delete a schedule (its runs stay).") { id };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            if (await scope.ServiceProvider.GetRequiredService<IPluginScheduler>().DeleteAsync(parse.GetValue(id), cancellationToken).ConfigureAwait(false))
            {
                AnsiConsole.MarkupLine($"Schedule [bold]{parse.GetValue(id)}[/] removed.");
                return ExitCompleted;
            }

            Output.Error($"no schedule with id {parse.GetValue(id)}");
            return ExitNotFound;
        });
        return command;
    }

    private static Command Trigger()
    {
        var id = new Argument<Guid>("schedule-id") { Description = "The schedule's id." };
        var command = new Command("trigger", "Start a run of the schedule now; its next occurrence does not change.") { id, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            try
            {
                var run = await scope.ServiceProvider.GetRequiredService<IPluginScheduler>().TriggerAsync(parse.GetValue(id), cancellationToken).ConfigureAwait(false);
                if (run is null)
                {
                    Output.Error($"no schedule with id {parse.GetValue(id)}");
                    return ExitNotFound;
                }

                Output.Started(run, parse.GetValue(JsonOption));
                return ExitCompleted;
            }
            catch (FirstSipException e)
            {
                Output.Error(e.Message);
                return ExitRefused;
            }
        });
        return command;
    }

    private static Command Preview()
    {
        var id = new Argument<Guid>("schedule-id") { Description = "The schedule's id." };
        var count = new Option<int>("--count") { Description = "How many occurrences (1 to 1000).", DefaultValueFactory = _ => 10 };
        var command = new Command("preview", "List the schedule's next occurrences in its zone (and in UTC).") { id, count, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var wanted = parse.GetValue(count);
            if (wanted is < 1 or > PluginScheduleCron.MaxOccurrences)
            {
                Output.Error($"--count must be between 1 and {PluginScheduleCron.MaxOccurrences}");
                return ExitRefused;
            }

            var occurrences = await scope.ServiceProvider.GetRequiredService<IPluginScheduler>().PreviewAsync(parse.GetValue(id), wanted, cancellationToken).ConfigureAwait(false);
            if (occurrences is null)
            {
                Output.Error($"no schedule with id {parse.GetValue(id)}");
                return ExitNotFound;
            }

            if (parse.GetValue(JsonOption))
            {
                Output.Json(occurrences);
                return ExitCompleted;
            }

            foreach (var occurrence in occurrences)
            {
                AnsiConsole.MarkupLine($"{Markup.Escape(Local(occurrence))}  [grey]{occurrence.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC[/]");
            }

            return ExitCompleted;
        });
        return command;
    }

    private static void Print(PluginSchedule schedule, int upcoming, bool json)
    {
        var record = ScheduleRecord.From(schedule, upcoming, DateTimeOffset.UtcNow);
        if (json)
        {
            Output.Json(record);
            return;
        }

        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        grid.AddRow(new Text("schedule"), new Text(schedule.ScheduleId.ToString()));
        grid.AddRow(new Text("plugin"), new Text(schedule.PluginName));
        grid.AddRow(new Text("user"), new Text(schedule.UserId));
        grid.AddRow(new Text("when"), new Text($"{schedule.CronExpression} in {schedule.TimeZone}"));
        grid.AddRow(new Text("state"), new Markup(schedule.Enabled ? "[green]active[/]" : $"[yellow]paused[/] {Markup.Escape(schedule.PausedReason ?? string.Empty)}"));
        grid.AddRow(new Text("policies"), new Text($"misfire {record.Misfire} (cap {record.MaxMisfireRuns}), overlap {record.Overlap}"));
        grid.AddRow(new Text("settings"), new Text(schedule.Settings));
        grid.AddRow(new Text("next"), new Text(record.Upcoming.Count > 0 ? string.Join(Environment.NewLine, record.Upcoming.Select(Local)) : "-"));
        grid.AddRow(new Text("last run"), new Text(schedule.LastRunId is { } run ? $"{run} ({(record.LastFireAt is { } at ? Local(at) : "-")})" : "-"));
        AnsiConsole.Write(grid);
    }

    /// <summary>A time as its zone shows it, with the offset (which tells summer time from winter time).</summary>
    private static string Local(DateTimeOffset at) => at.ToString("ddd yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture);
}
