using FirstSip.Plugins.Internal.Runs;

namespace FirstSip.Plugins.Tests.Runs;

/// <summary>The group commit of results and events: what gathers while a batch is written goes in the next one; a failure is isolated.</summary>
public sealed class EntryBatcherTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task EntriesQueuedWhileABatchIsWritten_FormTheNextBatch()
    {
        var batches = new List<int[]>();
        var singles = new List<int>();
        var firstWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batcher = new EntryBatcher<int>(
            (entries, _) =>
            {
                lock (batches)
                {
                    batches.Add([.. entries]);
                }

                return Task.CompletedTask;
            },
            async (entry, _) =>
            {
                lock (singles)
                {
                    singles.Add(entry);
                }

                if (entry == 0)
                {
                    firstWriting.SetResult();
                    await releaseFirst.Task;
                }
            },
            (_, _) => { });

        // Alone, an entry is applied by itself, without waiting for company.
        var first = batcher.ApplyAsync(0, CancellationToken.None);
        await firstWriting.Task.WaitAsync(Timeout);
        var rest = Enumerable.Range(1, 10).Select(i => batcher.ApplyAsync(i, CancellationToken.None)).ToArray();
        Assert.All(rest, t => Assert.False(t.IsCompleted));

        releaseFirst.SetResult();
        await first.WaitAsync(Timeout);
        await Task.WhenAll(rest).WaitAsync(Timeout);

        Assert.Equal([0], singles);
        var batch = Assert.Single(batches);
        Assert.Equal(Enumerable.Range(1, 10), batch);
    }

    [Fact]
    public async Task AFailedBatch_IsAppliedOneByOne_AndOnlyTheFailingEntryFails()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var applied = new List<int>();
        var batchFailures = 0;
        var batcher = new EntryBatcher<int>(
            (entries, _) => entries.Contains(3) ? Task.FromException(new InvalidOperationException("entry 3 is bad")) : Task.CompletedTask,
            async (entry, _) =>
            {
                if (entry == 0)
                {
                    firstWriting.SetResult();
                    await gate.Task;
                }

                if (entry == 3)
                {
                    throw new InvalidOperationException("entry 3 is bad");
                }

                lock (applied)
                {
                    applied.Add(entry);
                }
            },
            (_, count) => Interlocked.Add(ref batchFailures, count));

        var first = batcher.ApplyAsync(0, CancellationToken.None);
        await firstWriting.Task.WaitAsync(Timeout);
        var rest = Enumerable.Range(1, 5).Select(i => batcher.ApplyAsync(i, CancellationToken.None)).ToArray();
        gate.SetResult();
        await first.WaitAsync(Timeout);

        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => rest[2].WaitAsync(Timeout));
        Assert.Equal("entry 3 is bad", failed.Message);
        await Task.WhenAll(rest.Where((_, i) => i != 2)).WaitAsync(Timeout);
        Assert.Equal([0, 1, 2, 4, 5], applied.Order());
        Assert.Equal(5, batchFailures);
    }

    [Fact]
    public async Task ACancelledEntry_IsNotApplied()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var applied = new List<int>();
        var batcher = new EntryBatcher<int>(
            (entries, _) =>
            {
                lock (applied)
                {
                    applied.AddRange(entries);
                }

                return Task.CompletedTask;
            },
            async (entry, _) =>
            {
                firstWriting.TrySetResult();
                await gate.Task;
                lock (applied)
                {
                    applied.Add(entry);
                }
            },
            (_, _) => { });

        var first = batcher.ApplyAsync(1, CancellationToken.None);
        await firstWriting.Task.WaitAsync(Timeout);
        using var cancel = new CancellationTokenSource();
        var cancelled = batcher.ApplyAsync(2, cancel.Token);
        var kept = batcher.ApplyAsync(3, CancellationToken.None);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Timeout));

        gate.SetResult();
        await Task.WhenAll(first, kept).WaitAsync(Timeout);
        Assert.Equal([1, 3], applied);
    }

    [Fact]
    public async Task ABatchOfTwoCallers_CancelledByOne_AppliesTheOthersEntriesOneByOne()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batchWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var singles = new List<int>();
        var batcher = new EntryBatcher<int>(
            async (entries, token) =>
            {
                batchWriting.SetResult();
                await Task.Delay(System.Threading.Timeout.Infinite, token);
            },
            async (entry, _) =>
            {
                if (entry == 0)
                {
                    firstWriting.SetResult();
                    await gate.Task;
                }

                lock (singles)
                {
                    singles.Add(entry);
                }
            },
            (_, _) => { });

        var first = batcher.ApplyAsync(0, CancellationToken.None);
        await firstWriting.Task.WaitAsync(Timeout);
        using var stopping = new CancellationTokenSource();
        var stopped = new[] { batcher.ApplyAsync(1, stopping.Token), batcher.ApplyAsync(3, stopping.Token) };
        var kept = new[] { batcher.ApplyAsync(2, CancellationToken.None), batcher.ApplyAsync(4, CancellationToken.None) };
        gate.SetResult();
        await first.WaitAsync(Timeout);

        // The second batch holds both callers' entries; one caller stopping cancels it.
        await batchWriting.Task.WaitAsync(Timeout);
        await stopping.CancelAsync();
        foreach (var task in stopped)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Timeout));
        }

        await Task.WhenAll(kept).WaitAsync(Timeout);
        Assert.Equal([0, 2, 4], singles);
    }
}
