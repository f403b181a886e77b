using System.Globalization;

namespace FirstSip.Plugins.Internal.Runs;

/// <summary>An entry of a batch, named by its stream entry id in the log.</summary>
internal interface IBatchEntry
{
    string Id { get; }
}

/// <summary>Names batches in the log.</summary>
internal static class BatchEntry
{
    /// <summary>How a batch is named in the log: its first entry's id and how many more.</summary>
    public static string Name<T>(IReadOnlyList<T> entries)
        where T : IBatchEntry =>
        entries.Count == 1 ? entries[0].Id : string.Create(CultureInfo.InvariantCulture, $"{entries[0].Id} and {entries.Count - 1} more");
}

/// <summary>
/// Group commit for entries handed over concurrently (the readers' results and progress events, callers' new runs): each
/// caller queues its entry and waits; one pump at a time takes everything queued (up to <see cref="MaxBatch"/>) and
/// applies it as one batch, in one transaction. While a batch is being written the next one gathers, so under load a
/// batch holds as many entries as there are concurrent callers, and at idle an entry is applied alone, without waiting for company.
/// </summary>
/// <remarks>
/// A batch that fails for any reason but cancellation is applied again entry by entry, each on its own: the entry that
/// failed fails alone (its caller sees the exception and the reader leaves it pending) and the others are applied.
/// Transient database failures are retried by the functions given, for the batch as for a single entry. A batch is
/// cancelled when any of its entries' tokens is; its entries whose tokens are not cancelled are then applied one by one.
/// </remarks>
/// <typeparam name="T">The entry type.</typeparam>
internal sealed class EntryBatcher<T>(
    Func<IReadOnlyList<T>, CancellationToken, Task> applyBatch,
    Func<T, CancellationToken, Task> applyOne,
    Action<Exception, int> batchFailed)
{
    /// <summary>The most entries applied in one transaction.</summary>
    public const int MaxBatch = 128;

    private readonly Lock _gate = new();
    private readonly Queue<Queued> _queue = new();
    private bool _pumping;

    /// <summary>Queues <paramref name="entry"/> and completes once it is applied (or fails, or the token is cancelled).</summary>
    public Task ApplyAsync(T entry, CancellationToken cancellationToken)
    {
        var queued = new Queued(entry, cancellationToken);
        bool start;
        lock (_gate)
        {
            _queue.Enqueue(queued);
            start = !_pumping;
            _pumping = true;
        }

        if (start)
        {
            // The pump does not carry this caller's execution context (its span, its logging scope) into later batches.
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(PumpAsync, CancellationToken.None);
            }
        }

        return queued.Completion.Task.WaitAsync(cancellationToken);
    }

    private async Task PumpAsync()
    {
        var batch = new List<Queued>(MaxBatch);
        while (true)
        {
            batch.Clear();
            lock (_gate)
            {
                while (batch.Count < MaxBatch && _queue.TryDequeue(out var next))
                {
                    if (next.CancellationToken.IsCancellationRequested)
                    {
                        next.Completion.TrySetCanceled(next.CancellationToken);
                    }
                    else
                    {
                        batch.Add(next);
                    }
                }

                if (batch.Count == 0 && _queue.Count == 0)
                {
                    _pumping = false;
                    return;
                }
            }

            if (batch.Count > 0)
            {
                await ApplyAsync(batch).ConfigureAwait(false);
            }
        }
    }

    private async Task ApplyAsync(List<Queued> batch)
    {
        if (batch.Count > 1)
        {
            // Entries handed over by different callers (the result and the event readers) each keep their own token: the
            // batch stops when any of them is cancelled, and the entries whose callers still wait are then applied alone.
            using var linked = LinkTokens(batch);
            var cancellationToken = linked?.Token ?? batch[0].CancellationToken;
            try
            {
                await applyBatch([.. batch.Select(static q => q.Entry)], cancellationToken).ConfigureAwait(false);
                foreach (var queued in batch)
                {
                    queued.Completion.TrySetResult();
                }

                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                batch.RemoveAll(static queued => queued.CancellationToken.IsCancellationRequested
                    && queued.Completion.TrySetCanceled(queued.CancellationToken));
            }
#pragma warning disable CA1031 // Whatever failed is found by applying the entries one by one.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                batchFailed(ex, batch.Count);
            }
        }

        foreach (var queued in batch)
        {
            try
            {
                await applyOne(queued.Entry, queued.CancellationToken).ConfigureAwait(false);
                queued.Completion.TrySetResult();
            }
            catch (OperationCanceledException ex) when (queued.CancellationToken.IsCancellationRequested)
            {
                queued.Completion.TrySetCanceled(ex.CancellationToken);
            }
#pragma warning disable CA1031 // The entry's own failure goes to its caller.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                queued.Completion.TrySetException(ex);
            }
        }
    }

    /// <summary>A source cancelled with any of the batch's tokens; null when they all share one.</summary>
    private static CancellationTokenSource? LinkTokens(List<Queued> batch)
    {
        var first = batch[0].CancellationToken;
        var others = batch.Select(static q => q.CancellationToken).Where(t => t != first).Distinct().ToList();
        if (others.Count == 0)
        {
            return null;
        }

        others.Add(first);
        return CancellationTokenSource.CreateLinkedTokenSource([.. others]);
    }

    private sealed class Queued(T entry, CancellationToken cancellationToken)
    {
        public T Entry { get; } = entry;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
