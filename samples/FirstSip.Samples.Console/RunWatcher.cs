using FirstSip.Plugins;
using Spectre.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>Follows a run through <see cref="IPluginRunner.WatchAsync"/> and shows its progress.</summary>
internal static class RunWatcher
{
    private static readonly TimeSpan DispatchWait = TimeSpan.FromSeconds(10);

    /// <summary>Waits until the run is on the stream (or a short while passes, when Redis is down).</summary>
    public static async Task<PluginRun> WaitUntilDispatchedAsync(IPluginRunner runner, PluginRun run, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DispatchWait);
        try
        {
            await foreach (var update in runner.WatchAsync(run.RunId, timeout.Token).ConfigureAwait(false))
            {
                if (update.Status != PluginRunStatus.Pending)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Still pending: Redis is not reachable. The run is safe in the database and goes out later.
        }

        return await runner.GetAsync(run.RunId, CancellationToken.None).ConfigureAwait(false) ?? run;
    }

    /// <summary>Shows every status change and progress step until the run ends, and returns the ended run.</summary>
    public static async Task<PluginRun> FollowAsync(IPluginRunner runner, PluginRun run, bool showProgress, CancellationToken cancellationToken)
    {
        if (!showProgress)
        {
            return await runner.WaitAsync(run.RunId, cancellationToken).ConfigureAwait(false);
        }

        AnsiConsole.MarkupLine($"Run [bold]{run.RunId}[/] of [bold]{Markup.Escape(run.PluginName)}[/] started.");
        var started = DateTimeOffset.UtcNow;
        await AnsiConsole.Status().Spinner(Spinner.Known.Dots).StartAsync("waiting for a worker…", async context =>
        {
            var lastStatus = run.Status;
            await foreach (var update in runner.WatchAsync(run.RunId, cancellationToken).ConfigureAwait(false))
            {
                var elapsed = (DateTimeOffset.UtcNow - started).TotalSeconds;
                if (update.Status != lastStatus)
                {
                    AnsiConsole.MarkupLine($"[grey]{elapsed,6:0.0}s[/] {Output.StatusMarkup(update.Status)}");
                    lastStatus = update.Status;
                }

                if (update.Step is { Length: > 0 } step)
                {
                    var message = update.Message is { Length: > 0 } m ? $" [grey]{Markup.Escape(Shorten(m))}[/]" : string.Empty;
                    AnsiConsole.MarkupLine($"[grey]{elapsed,6:0.0}s[/]   step [bold]{Markup.Escape(step)}[/]{message}");
                }

                context.Status(update.Status switch
                {
                    PluginRunStatus.Pending => "waiting to be dispatched…",
                    PluginRunStatus.Dispatched => "waiting for a worker…",
                    PluginRunStatus.Running => update.Step is { } s ? $"running (after {s})…" : "running…",
                    _ => "finishing…",
                });
                if (update.Status.IsTerminal())
                {
                    break;
                }
            }
        }).ConfigureAwait(false);

        return await runner.GetAsync(run.RunId, CancellationToken.None).ConfigureAwait(false) ?? run;
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "…");
}
