using System.CommandLine;
using FirstSip.Samples.ConsoleHost;
using Spectre.Console;

// When the output is not a terminal Spectre.Console assumes 80 columns; COLUMNS, when set, says otherwise.
if (Console.IsOutputRedirected && int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 0)
{
    AnsiConsole.Profile.Width = columns;
}

var root = new RootCommand("""
    FirstSip console host: start plugin runs, watch their progress and read their briefings.
    Configuration: FIRSTSIP_REDIS (default localhost:6379; redis://user:password@host:port/db works too),
    FIRSTSIP_DB (SQLite path or PostgreSQL connection string; default $FIRSTSIP_DATA/firstsip.db),
    FIRSTSIP_DATA (default data), FIRSTSIP_PLUGINS (default plugins), or appsettings.json. Relative paths are
    resolved against the repository root when run from inside it.
    """);
root.Subcommands.Add(Commands.Plugins());
root.Subcommands.Add(Commands.Run());
root.Subcommands.Add(Commands.Runs());
root.Subcommands.Add(Commands.Show());
root.Subcommands.Add(Commands.Queue());
root.Subcommands.Add(Commands.Cancel());
root.Subcommands.Add(Commands.Worker());
root.Subcommands.Add(ScheduleCommands.Schedules());
foreach (var command in OperationsCommands.All())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
