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

        // One clock for everything shown: the time since the run was created, from the updates' own timestamps
        // (the watch keeps them in order whichever process made the change).
        var origin = run.CreatedAt;
        string Elapsed(DateTimeOffset at) => $"{Math.Max(0, (at - origin).TotalSeconds),6:0.0}s";
        await AnsiConsole.Status().Spinner(Spinner.Known.Dots).StartAsync("waiting for a worker…", async context =>
        {
            var lastStatus = run.Status;
            string? lastStep = null;
            string Describe()
            {
                var since = Output.Duration(DateTimeOffset.UtcNow - origin);
                return lastStatus switch
                {
                    PluginRunStatus.Pending => $"waiting to be published… ({since})",
                    PluginRunStatus.Dispatched => $"waiting for a worker… ({since})",
                    PluginRunStatus.Running => lastStep is { } s ? $"running, after {s}… ({since})" : $"running… ({since})",
                    _ => "finishing…",
                };
            }

            // The spinner's text counts up every second, between updates too.
            using var stopTicking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var ticking = TickAsync(() => context.Status(Describe()), stopTicking.Token);
            try
            {
                await foreach (var update in runner.WatchAsync(run.RunId, cancellationToken).ConfigureAwait(false))
                {
                    if (update.Kind == PluginRunUpdateKind.Status && update.Status != lastStatus)
                    {
                        AnsiConsole.MarkupLine($"[grey]{Elapsed(update.At)}[/] {Output.StatusMarkup(update.Status)}");
                        lastStatus = update.Status;
                    }

                    if (update.Kind == PluginRunUpdateKind.Progress && update.ProgressKind == "step" && update.Step is { Length: > 0 } step)
                    {
                        lastStep = step;
                        var message = update.Message is { Length: > 0 } m ? $" [grey]{Markup.Escape(Shorten(m))}[/]" : string.Empty;
                        AnsiConsole.MarkupLine($"[grey]{Elapsed(update.At)}[/]   step [bold]{Markup.Escape(step)}[/]{message}");
                    }

                    context.Status(Describe());
                    if (update.IsTerminal)
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
