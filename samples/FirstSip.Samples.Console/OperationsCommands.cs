using System.CommandLine;
using System.Globalization;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Spectre.Console;
using StackExchange.Redis;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>The operator's commands: queues, workers, dead letters, retry and a run's timeline. Every text from Redis or a plugin is escaped.</summary>
internal static class OperationsCommands
{
    private const int ExitCompleted = 0;
    private const int ExitNotCompleted = 1;
    private const int ExitUnavailable = 3;

    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON instead of tables." };

    private static readonly Option<string> StreamOption = new("--stream")
    {
        Description = "The stream whose dead letters to use: requests, results, events, or a stream name.",
        DefaultValueFactory = _ => "requests",
    };

    public static IEnumerable<Command> All() => [Queues(), Workers(), Dead(), Retry(), Timeline()];

    private static async Task<int> WithOperationsAsync(Func<IServiceProvider, Task<int>> action, CancellationToken cancellationToken)
    {
        using var host = ConsoleApp.Build();
        await host.Services.EnsureSampleDatabaseAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = host.Services.CreateAsyncScope();
        try
        {
            return await action(scope.ServiceProvider).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            Output.Error($"Redis did not answer: {e.Message}");
            return ExitUnavailable;
        }
    }

    private static string ResolveStream(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptions<PluginStreamsOptions>>().Value;
        return name switch
        {
            "requests" => options.RequestsStream,
            "results" => options.ResultsStream,
            "events" => options.EventsStream,
            _ => name,
        };
    }

    private static Table NewTable(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var name in columns)
        {
            table.AddColumn(name);
        }

        return table;
    }

    private static string Time(DateTimeOffset? at) =>
        at?.ToLocalTime().ToString("MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture) ?? "";

    public static Command Queues()
    {
        var command = new Command("queues", "Show each plugin stream: length, and per group its lag, pending entries per consumer, oldest pending age; and its dead letters.") { JsonOption };
        command.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var states = await services.GetRequiredService<IStreamOperations>().GetPluginStreamsAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(JsonOption))
            {
                Output.Json(states);
                return ExitCompleted;
            }

            var table = NewTable("stream", "length", "dead", "group", "lag", "pending", "oldest pending", "consumers (pending, idle)");

            foreach (var state in states)
            {
                if (state.Groups.Count == 0)
                {
                    table.AddRow(new Text(state.StreamName), new Text(state.Length.ToString(CultureInfo.InvariantCulture)), new Text(state.DeadLetters.ToString(CultureInfo.InvariantCulture)), new Text("-"), new Text(""), new Text(""), new Text(""), new Text(""));
                }

                foreach (var group in state.Groups)
                {
                    var consumers = string.Join("\n", group.Consumers.Select(c => $"{c.ConsumerName} ({c.Pending}, {Output.Duration(c.Idle)})"));
                    table.AddRow(
                        new Text(state.StreamName),
                        new Text(state.Length.ToString(CultureInfo.InvariantCulture)),
                        new Text(state.DeadLetters.ToString(CultureInfo.InvariantCulture)),
                        new Text(group.GroupName),
                        new Text(group.Lag?.ToString(CultureInfo.InvariantCulture) ?? "?"),
                        new Text(group.Pending.ToString(CultureInfo.InvariantCulture)),
                        new Text(group.OldestPendingAge is { } age ? Output.Duration(age) : ""),
                        new Text(consumers));
                }
            }

            AnsiConsole.Write(table);
            return ExitCompleted;
        }, cancellationToken));
        return command;
    }

    public static Command Workers()
    {
        var command = new Command("workers", "List the live sidecar workers (from their registry keys): host, pid, version, plugins, slots and the runs they execute.") { JsonOption };
        command.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var workers = await services.GetRequiredService<IStreamOperations>().ListWorkersAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(JsonOption))
            {
                Output.Json(workers);
                return ExitCompleted;
            }

            var table = NewTable("consumer", "host", "pid", "version", "slots", "in flight", "plugins", "started");

            foreach (var worker in workers)
            {
                table.AddRow(
                    new Text(worker.ConsumerName),
                    new Text(worker.Host ?? ""),
                    new Text(worker.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? ""),
                    new Text(worker.Version ?? ""),
                    new Text(worker.Slots.ToString(CultureInfo.InvariantCulture)),
                    new Text(string.Join("\n", worker.InFlight.Select(r => $"{r.RunId} {r.PluginName} #{r.Attempt}"))),
                    new Text(string.Join(", ", worker.Plugins)),
                    new Text(Time(worker.StartedAt)));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{workers.Count} live workers[/]");
            return ExitCompleted;
        }, cancellationToken));
        return command;
    }

    public static Command Dead()
    {
        var count = new Option<int>("--count") { Description = "How many to list, newest first.", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List dead letters, newest first.") { StreamOption, count, JsonOption };
        list.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var stream = ResolveStream(services, parse.GetValue(StreamOption)!);
            var letters = await services.GetRequiredService<IStreamOperations>().ListDeadLettersAsync(stream, Math.Clamp(parse.GetValue(count), 1, 1000), null, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(JsonOption))
            {
                Output.Json(letters);
                return ExitCompleted;
            }

            var table = NewTable("id", "dead at", "run", "reason", "consumer");

            foreach (var letter in letters)
            {
                table.AddRow(new Text(letter.EntryId), new Text(Time(letter.DeadAt)), new Text(letter.RunId?.ToString() ?? ""), new Text(letter.Reason ?? ""), new Text(letter.ConsumerName ?? ""));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{letters.Count} dead letters of {Markup.Escape(stream)}[/]");
            return ExitCompleted;
        }, cancellationToken));

        var id = new Argument<string>("id") { Description = "The dead letter's id (from `dead list`)." };
        var show = new Command("show", "Show every field of a dead letter.") { id, StreamOption, JsonOption };
        show.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var stream = ResolveStream(services, parse.GetValue(StreamOption)!);
            var letter = await services.GetRequiredService<IStreamOperations>().GetDeadLetterAsync(stream, parse.GetValue(id)!, cancellationToken).ConfigureAwait(false);
            if (letter is null)
            {
                Output.Error($"no dead letter {parse.GetValue(id)} on {stream}:dead");
                return ExitNotCompleted;
            }

            if (parse.GetValue(JsonOption))
            {
                Output.Json(letter);
                return ExitCompleted;
            }

            var table = new Table().Border(TableBorder.Rounded).AddColumn("field").AddColumn("value");
            foreach (var field in letter.Fields)
            {
                table.AddRow(new Text(field.Key), new Text(field.Value));
            }

            AnsiConsole.Write(table);
            return ExitCompleted;
        }, cancellationToken));

        var replayId = new Argument<string>("id") { Description = "The dead letter's id." };
        var replay = new Command("replay", "Replay a dead letter: a request whose run failed runs again as its next attempt; any other letter goes back on its stream.") { replayId, StreamOption };
        replay.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var stream = ResolveStream(services, parse.GetValue(StreamOption)!);
            var result = await services.GetRequiredService<IPluginOperations>().ReplayDeadLetterAsync(stream, parse.GetValue(replayId)!, cancellationToken).ConfigureAwait(false);
            switch (result.Outcome)
            {
                case DeadLetterReplayOutcome.RunRetried:
                    AnsiConsole.MarkupLine($"Run [bold]{result.Run!.RunId}[/] runs again as attempt {result.Run.Attempt}.");
                    return ExitCompleted;
                case DeadLetterReplayOutcome.Replayed:
                    AnsiConsole.MarkupLine($"Put back on {Markup.Escape(stream)} as {Markup.Escape(result.EntryId!)}.");
                    return ExitCompleted;
                case DeadLetterReplayOutcome.RunNotRetryable:
                    Output.Error($"run {result.Run?.RunId} is {result.Run?.Status.ToWireString()}; only a failed or timed-out run runs again");
                    return ExitNotCompleted;
                default:
                    Output.Error($"no dead letter {parse.GetValue(replayId)} on {stream}:dead");
                    return ExitNotCompleted;
            }
        }, cancellationToken));

        var purge = new Command("purge", "Delete every dead letter of a stream.") { StreamOption };
        purge.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var stream = ResolveStream(services, parse.GetValue(StreamOption)!);
            var deleted = await services.GetRequiredService<IStreamOperations>().PurgeDeadLettersAsync(stream, cancellationToken).ConfigureAwait(false);
            AnsiConsole.MarkupLine($"Deleted {deleted} dead letters of {Markup.Escape(stream)}.");
            return ExitCompleted;
        }, cancellationToken));

        return new Command("dead", "Dead letters: entries a consumer gave up on, with the reason.") { list, show, replay, purge };
    }

    public static Command Retry()
    {
        var id = new Argument<Guid>("run-id") { Description = "A failed or timed-out run." };
        var command = new Command("retry", "Run a failed or timed-out run again as its next attempt, with the same run id.") { id };
        command.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var runId = parse.GetValue(id);
            var result = await services.GetRequiredService<IPluginOperations>().RetryAsync(runId, cancellationToken).ConfigureAwait(false);
            switch (result.Outcome)
            {
                case PluginRunActionOutcome.Done:
                    AnsiConsole.MarkupLine($"Run [bold]{runId}[/] runs again as attempt {result.Run!.Attempt} (a running `worker` dispatches it).");
                    return ExitCompleted;
                case PluginRunActionOutcome.NotFound:
                    Output.Error($"no run with id {runId}");
                    return ExitNotCompleted;
                case PluginRunActionOutcome.NotAllowed:
                    Output.Error($"run {runId} is {result.Run!.Status.ToWireString()}; only a failed or timed-out run can be retried");
                    return ExitNotCompleted;
                default:
                    Output.Error($"run {runId} changed meanwhile or still owes its stop signal; try again in a moment");
                    return ExitNotCompleted;
            }
        }, cancellationToken));
        return command;
    }

    public static Command Timeline()
    {
        var id = new Argument<Guid>("run-id") { Description = "The run's id." };
        var command = new Command("timeline", "Show a run's timeline: every transition and progress event, with times, attempts and durations.") { id, JsonOption };
        command.SetAction((parse, cancellationToken) => WithOperationsAsync(async services =>
        {
            var timeline = await services.GetRequiredService<IPluginOperations>().GetTimelineAsync(parse.GetValue(id), cancellationToken).ConfigureAwait(false);
            if (timeline is null)
            {
                Output.Error($"no run with id {parse.GetValue(id)}");
                return ExitNotCompleted;
            }

            if (parse.GetValue(JsonOption))
            {
                // The run as the other commands print it (never its sealed secrets), then the entries.
                Output.Json(TimelineRecord.From(timeline));
                return ExitCompleted;
            }

            var run = timeline.Run;
            AnsiConsole.MarkupLine($"Run [bold]{run.RunId}[/] ({Markup.Escape(run.PluginName)}, user {Markup.Escape(run.UserId)}): {Output.StatusMarkup(run.Status)}, attempt {run.Attempt} of {run.MaxAttempts}");
            var table = NewTable("at", "+", "attempt", "what", "step", "message", "worker");

            foreach (var entry in timeline.Entries)
            {
                var what = TimelineRecord.What(entry);
                table.AddRow(
                    new Text(Time(entry.At)),
                    new Text(entry.SincePrevious is { } since ? Output.Duration(since) : ""),
                    new Text(entry.Attempt?.ToString(CultureInfo.InvariantCulture) ?? ""),
                    new Text(what),
                    new Text(entry.Step ?? ""),
                    new Text(entry.Message ?? ""),
                    new Text(entry.Worker ?? ""));
            }

            AnsiConsole.Write(table);
            var parts = new List<string> { $"total {Output.Duration(timeline.TotalTime)}" };
            if (timeline.QueueTime is { } queued)
            {
                parts.Add($"queued {Output.Duration(queued)}");
            }

            if (timeline.ExecutionTime is { } executed)
            {
                parts.Add($"executed {Output.Duration(executed)}");
            }

            AnsiConsole.MarkupLine($"[grey]{string.Join(", ", parts)}[/]");
            return ExitCompleted;
        }, cancellationToken));
        return command;
    }
}
