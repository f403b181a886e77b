using System.CommandLine;
using System.Text.Json.Nodes;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>The console host's commands.</summary>
internal static class Commands
{
    private const int ExitCompleted = 0;
    private const int ExitNotCompleted = 1;
    private const int ExitRefused = 2;
    private const int ExitUnavailable = 3;
    private const int ExitInterrupted = 130;

    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON instead of tables." };

    public static Command Plugins()
    {
        var command = new Command("plugins", "List the plugin catalog, with each plugin's settings and defaults.") { JsonOption };
        command.SetAction(parse =>
        {
            using var host = ConsoleApp.Build();
            var catalog = host.Services.GetRequiredService<IPluginCatalog>();
            if (parse.GetValue(JsonOption))
            {
                Output.Json(catalog.GetPlugins().Select(PluginRecord.From));
            }
            else
            {
                Output.Catalog(catalog.GetPlugins(), host.Services.GetRequiredService<SampleSettings>().Plugins);
            }

            return catalog.GetPlugins().Count > 0 ? ExitCompleted : ExitNotCompleted;
        });
        return command;
    }

    public static Command Run()
    {
        var plugin = new Argument<string>("plugin") { Description = "The plugin to run, as listed by `plugins`." };
        var set = new Option<string[]>("--set")
        {
            Description = "A setting as key=value (repeatable). Lists: topics=a,b or JSON. Values are checked against the plugin's schema.",
            AllowMultipleArgumentsPerToken = false,
        };
        var user = new Option<string>("--user") { Description = "The user the run is for.", DefaultValueFactory = _ => "1" };
        var wait = new Option<bool>("--wait") { Description = "Show live progress and end with the result (exit code 0 only when the run completed)." };
        var timeout = new Option<int?>("--timeout") { Description = "Execution timeout in seconds (default: the plugin's)." };
        var cancelOnExit = new Option<bool>("--cancel-on-exit")
        {
            Description = "With --wait: when Ctrl+C or SIGTERM stops the wait, cancel the run too (by default the run goes on).",
        };
        var command = new Command("run", "Start a plugin run.") { plugin, set, user, wait, timeout, cancelOnExit, JsonOption };
        command.SetAction(async (parse, commandToken) =>
        {
            using var host = ConsoleApp.Build();
            // Ctrl+C and SIGTERM reach the host's lifetime; either way the wait stops at once.
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(
                commandToken, host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
            var cancellationToken = stopping.Token;
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var catalog = host.Services.GetRequiredService<IPluginCatalog>();
            var pluginName = parse.GetValue(plugin)!;
            var json = parse.GetValue(JsonOption);

            JsonObject settings;
            try
            {
                settings = SettingsParser.Parse(parse.GetValue(set) ?? [], catalog.GetPlugin(pluginName));
            }
            catch (FormatException e)
            {
                Output.Error(e.Message);
                return ExitRefused;
            }

            // Nothing is written while Redis does not answer: one line says where it was looked for and what to change.
            if (await AppSideProbe.UnreachableAsync(host.Services, cancellationToken).ConfigureAwait(false) is { } address)
            {
                Output.Error($"Redis is not reachable at {address}. Start it, or point FIRSTSIP_REDIS (or FirstSip:Redis in appsettings.json) at it, " +
                    "e.g. FIRSTSIP_REDIS=redis://127.0.0.1:6379.");
                return ExitUnavailable;
            }

            // Whether another process will finish what this one starts, read before this host's own readers join.
            var presence = parse.GetValue(wait) ? null : await AppSideProbe.ReadAsync(host.Services).ConfigureAwait(false);
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using var scope = host.Services.CreateAsyncScope();
                var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
                PluginRun run;
                try
                {
                    var seconds = parse.GetValue(timeout);
                    run = await runner.StartAsync(
                        new StartPluginRunRequest
                        {
                            PluginName = pluginName,
                            UserId = parse.GetValue(user)!,
                            Settings = settings,
                            Timeout = seconds is { } s ? TimeSpan.FromSeconds(s) : null,
                        },
                        cancellationToken).ConfigureAwait(false);
                }
                catch (UnknownPluginException e)
                {
                    var known = catalog.GetPlugins();
                    Output.Error(known.Count == 0
                        ? $"{e.Message}: {Output.EmptyCatalog(host.Services.GetRequiredService<SampleSettings>().Plugins)}."
                        : $"{e.Message}. Known plugins: {string.Join(", ", known.Select(p => p.Name))}.");
                    return ExitRefused;
                }
                catch (InvalidPluginSettingsException e)
                {
                    Output.SettingsErrors(e);
                    return ExitRefused;
                }
                catch (PluginSecretsException e)
                {
                    Output.Error(e.Message);
                    return ExitRefused;
                }

                if (!parse.GetValue(wait))
                {
                    run = await RunWatcher.WaitUntilDispatchedAsync(runner, run, cancellationToken).ConfigureAwait(false);
                    Output.Started(run, json);
                    if (presence is not null)
                    {
                        Output.MissingProcesses(presence, json);
                    }

                    return ExitCompleted;
                }

                try
                {
                    run = await RunWatcher.FollowAsync(runner, run, showProgress: !json, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    var cancelled = parse.GetValue(cancelOnExit)
                        && await runner.CancelAsync(run.RunId, "cancelled from the console (--cancel-on-exit)", CancellationToken.None).ConfigureAwait(false);
                    Output.Interrupted(run, cancelled);
                    return ExitInterrupted;
                }

                Briefing? briefing = null;
                if (run.Status == PluginRunStatus.Completed)
                {
                    briefing = await scope.ServiceProvider.FindBriefingAsync(run.RunId, CancellationToken.None).ConfigureAwait(false);
                }

                Output.Finished(run, briefing, json);
                return run.Status == PluginRunStatus.Completed ? ExitCompleted : ExitNotCompleted;
            }
            finally
            {
                using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await host.StopAsync(stopTimeout.Token).ConfigureAwait(false);
            }
        });
        return command;
    }

    public static Command Runs()
    {
        var status = new Option<string?>("--status") { Description = "Only runs in this status (pending, dispatched, running, completed, failed, timed_out, cancelled)." };
        var plugin = new Option<string?>("--plugin") { Description = "Only runs of this plugin." };
        var limit = new Option<int>("--limit") { Description = "At most this many runs, newest first.", DefaultValueFactory = _ => 20 };
        var command = new Command("runs", "List runs, newest first.") { status, plugin, limit, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            PluginRunStatus? statusFilter = null;
            if (parse.GetValue(status) is { } statusText)
            {
                try
                {
                    statusFilter = PluginRunStatusExtensions.ParseWireString(statusText);
                }
                catch (FormatException e)
                {
                    Output.Error($"{e.Message}; use one of: {string.Join(", ", Enum.GetValues<PluginRunStatus>().Select(v => v.ToWireString()))}");
                    return ExitRefused;
                }
            }

            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
            var page = await runner.ListAsync(
                new PluginRunQuery { Statuses = statusFilter is { } one ? [one] : null, PluginName = parse.GetValue(plugin), Take = parse.GetValue(limit) },
                cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(JsonOption))
            {
                Output.Json(page.Items.Select(RunRecord.From));
            }
            else
            {
                Output.RunsTable(page.Items, page.TotalCount);
                Output.Queue(await runner.GetQueueAsync(cancellationToken: cancellationToken).ConfigureAwait(false), DateTimeOffset.UtcNow);
            }

            return ExitCompleted;
        });
        return command;
    }

    public static Command Show()
    {
        var id = new Argument<Guid>("run-id") { Description = "The run's id." };
        var command = new Command("show", "Show one run, with its briefing when it has one.") { id, JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
            var run = await runner.GetAsync(parse.GetValue(id), cancellationToken).ConfigureAwait(false);
            if (run is null)
            {
                Output.Error($"no run with id {parse.GetValue(id)}");
                return ExitNotCompleted;
            }

            var briefing = await scope.ServiceProvider.FindBriefingAsync(run.RunId, cancellationToken).ConfigureAwait(false);
            Output.Finished(run, briefing, parse.GetValue(JsonOption));
            if (!parse.GetValue(JsonOption) && run.Status is PluginRunStatus.Pending or PluginRunStatus.Dispatched)
            {
                Output.Waiting(run, await runner.GetQueueAsync(run.RunId, cancellationToken).ConfigureAwait(false), DateTimeOffset.UtcNow);
            }

            return ExitCompleted;
        });
        return command;
    }

    public static Command Queue()
    {
        var command = new Command("queue", "Show the queue: runs waiting to be published, waiting for a worker and running, and the request stream's backlog.") { JsonOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var queue = await scope.ServiceProvider.GetRequiredService<IPluginRunner>().GetQueueAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(JsonOption))
            {
                Output.Json(queue);
            }
            else
            {
                Output.Queue(queue, DateTimeOffset.UtcNow);
            }

            return ExitCompleted;
        });
        return command;
    }

    public static Command Cancel()
    {
        var id = new Argument<Guid>("run-id") { Description = "The run's id." };
        var command = new Command("cancel", "Cancel a run that has not ended; the worker running it stops it.") { id };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build();
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            await using var scope = host.Services.CreateAsyncScope();
            var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
            var runId = parse.GetValue(id);
            if (await runner.CancelAsync(runId, "cancelled from the console", cancellationToken).ConfigureAwait(false))
            {
                AnsiConsole.MarkupLine($"Run [bold]{runId}[/] cancelled.");
                return ExitCompleted;
            }

            var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false);
            Output.Error(run is null ? $"no run with id {runId}" : $"run {runId} already ended ({run.Status.ToWireString()})");
            return ExitNotCompleted;
        });
        return command;
    }

    public static Command Worker()
    {
        var command = new Command("worker", "Run the app side (dispatcher, result and event consumers, reaper, scheduler) until stopped with Ctrl+C.");
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var host = ConsoleApp.Build(verbose: true);
            await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
            AnsiConsole.MarkupLine("[grey]FirstSip worker running; Ctrl+C to stop.[/]");
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            return ExitCompleted;
        });
        return command;
    }
}
