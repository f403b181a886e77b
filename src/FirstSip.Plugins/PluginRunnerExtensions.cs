namespace FirstSip.Plugins;

/// <summary>Conveniences over <see cref="IPluginRunner"/>.</summary>
public static class PluginRunnerExtensions
{
    /// <summary>Waits until the run is terminal, at most <paramref name="timeout"/>. The run itself goes on after a timeout.</summary>
    /// <param name="runner">The runner.</param>
    /// <param name="runId">The run id.</param>
    /// <param name="timeout">How long to wait at most; <see cref="Timeout.InfiniteTimeSpan"/> waits as long as <paramref name="cancellationToken"/> allows.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The terminal run.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="runner"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not infinite.</exception>
    /// <exception cref="KeyNotFoundException">There is no run with that id.</exception>
    /// <exception cref="PluginRunWaitTimeoutException">The run did not end in time; the exception carries its last state.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public static async Task<PluginRun> WaitAsync(this IPluginRunner runner, Guid runId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runner);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the timeout must not be negative");
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            return await runner.WaitAsync(runId, timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var run = await runner.GetAsync(runId, cancellationToken).ConfigureAwait(false)
                ?? throw new KeyNotFoundException($"no plugin run {runId}");
            throw new PluginRunWaitTimeoutException(run, timeout);
        }
    }
}
