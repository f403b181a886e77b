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
            var current = run;
            string? lastStep = null;
            string Describe() => lastStatus switch
            {
                PluginRunStatus.Pending => "waiting to be dispatched…",
                PluginRunStatus.Dispatched => Output.WaitingText(current, null, DateTimeOffset.UtcNow) + "…",
                PluginRunStatus.Running => lastStep is { } s ? $"running (after {s})…" : "running…",
                _ => "finishing…",
            };

            // The spinner's text counts the wait up every second, between updates too.
            using var stopTicking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var ticking = TickAsync(() => context.Status(Describe()), stopTicking.Token);
            try
            {
                await foreach (var update in runner.WatchAsync(run.RunId, cancellationToken).ConfigureAwait(false))
                {
                    if (update.Status == PluginRunStatus.Dispatched && current.DispatchedAt is null)
                    {
                        current = await runner.GetAsync(run.RunId, cancellationToken).ConfigureAwait(false) ?? current;
                    }

                    var elapsed = (DateTimeOffset.UtcNow - started).TotalSeconds;
                    if (update.Status != lastStatus)
                    {
                        AnsiConsole.MarkupLine($"[grey]{elapsed,6:0.0}s[/] {Output.StatusMarkup(update.Status)}");
                        lastStatus = update.Status;
                    }

                    if (update.Step is { Length: > 0 } step)
                    {
                        lastStep = step;
                        var message = update.Message is { Length: > 0 } m ? $" [grey]{Markup.Escape(Shorten(m))}[/]" : string.Empty;
                        AnsiConsole.MarkupLine($"[grey]{elapsed,6:0.0}s[/]   step [bold]{Markup.Escape(step)}[/]{message}");
                    }

                    context.Status(Describe());
                    if (update.Status.IsTerminal())
                    {
                        break;
                    }
                }
            }
            finally
            {
                await stopTicking.CancelAsync().ConfigureAwait(false);
                await ticking.ConfigureAwait(false);
            }
        }).ConfigureAwait(false);

        return await runner.GetAsync(run.RunId, CancellationToken.None).ConfigureAwait(false) ?? run;
    }

    private static async Task TickAsync(Action tick, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                tick();
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended or the watch stopped.
        }
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "…");
}
