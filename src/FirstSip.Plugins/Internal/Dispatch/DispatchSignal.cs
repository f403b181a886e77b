namespace FirstSip.Plugins.Internal.Dispatch;

/// <summary>Wakes the dispatcher at once after a start in this process, instead of at its next poll.</summary>
internal sealed class DispatchSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Dispose() => _signal.Dispose();

    public void Notify()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one wake-up covers every start before it.
        }
    }

    /// <summary>Waits for a signal or the timeout; returns when either happens.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, timeProvider, timeoutSource.Token);
        var signal = _signal.WaitAsync(timeoutSource.Token);
        await Task.WhenAny(delay, signal).ConfigureAwait(false);
        await timeoutSource.CancelAsync().ConfigureAwait(false);
        try
        {
            await signal.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The timeout or the caller ended the wait.
        }

        try
        {
            await delay.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Same as above.
        }

        cancellationToken.ThrowIfCancellationRequested();
    }
}
