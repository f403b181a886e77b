using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <content>The read loop: new entries (blocking or polling) and recovery of this consumer's own pending entries.</content>
internal sealed partial class StreamReaderService<TMessage, THandler>
{
    private static readonly TimeSpan SlotWait = TimeSpan.FromSeconds(1);

    private async Task ReadLoopAsync(CancellationToken stoppingToken)
    {
        var retryDelay = TimeSpan.FromMilliseconds(100);
        var recovering = false;
        var backlog = true;
        RedisValue recoverCursor = "0";
        Task<StreamEntry[]>? ahead = null;
        var aheadReserved = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            _state.MarkLoop(_timeProvider.GetTimestamp());
            int reserved;
            if (ahead is null)
            {
                // Read no more entries than there are free handler slots: the concurrency bound holds and nothing waits unhandled.
                bool acquired;
                try
                {
                    acquired = await _slots.WaitAsync(SlotWait, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                if (!acquired)
                {
                    continue;
                }

                reserved = 1 + ReserveSlots(_options.BatchSize - 1);
            }
            else
            {
                reserved = aheadReserved;
            }

            if (ahead is null && Interlocked.Exchange(ref _recoveryRequested, 0) == 1)
            {
                recovering = true;
                recoverCursor = "0";
            }

            var wasRecovering = ahead is null && recovering;
            StreamEntry[] entries;
            long[]? deliveryCounts = null;
            try
            {
                if (ahead is not null)
                {
                    var read = ahead;
                    ahead = null;
                    entries = await read.ConfigureAwait(false);
                    backlog = entries.Length == reserved;
                }
                else if (recovering)
                {
                    entries = await Database.StreamReadGroupAsync(_key, _group, ConsumerName, recoverCursor, reserved).ConfigureAwait(false);
                    if (entries.Length == 0)
                    {
                        recovering = false;
                    }
                    else
                    {
                        recoverCursor = entries[^1].Id;
                        deliveryCounts = await GetDeliveryCountsAsync(entries).ConfigureAwait(false);
                        _logger.RecoveredPending(entries.Length, ConsumerName, StreamName);
                    }
                }
                else
                {
                    entries = await ReadNewAsync(reserved, backlog).ConfigureAwait(false);

                    // A full read means more is probably waiting: read again without blocking.
                    backlog = entries.Length == reserved;
                }

                retryDelay = TimeSpan.FromMilliseconds(100);
                _state.LastError = null;
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                _slots.Release(reserved);
                _logger.GroupMissing(GroupName, StreamName);
                await EnsureGroupWithRetryAsync(stoppingToken).ConfigureAwait(false);
                RequestRecovery();
                continue;
            }
#pragma warning disable CA1031 // The read loop is a process edge: any failure is logged and the read retried.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _slots.Release(reserved);
                _state.LastError = ex.Message;
                _logger.ReadFailed(ex, StreamName, GroupName, retryDelay);

                // A read whose reply was lost may have delivered entries to this consumer: read them back first.
                RequestRecovery();
                backlog = true;
                if (!await DelayAsync(retryDelay, stoppingToken).ConfigureAwait(false))
                {
                    break;
                }

                retryDelay = NextDelay(retryDelay);
                continue;
            }

            // While a backlog lasts, fetch the next batch (into slots of its own) while this one is handled.
            if (backlog && !wasRecovering && entries.Length > 0 && !stoppingToken.IsCancellationRequested
                && Volatile.Read(ref _recoveryRequested) == 0)
            {
                aheadReserved = ReserveSlots(_options.BatchSize);
                if (aheadReserved > 0)
                {
                    ahead = Database.StreamReadGroupAsync(_key, _group, ConsumerName, StreamPosition.NewMessages, aheadReserved);
                }
            }

            DispatchBatch(entries, deliveryCounts, reserved);

            if (entries.Length == 0 && !wasRecovering && _options.ReadMode == StreamReadMode.Polling
                && !await DelayAsync(_options.PollInterval, stoppingToken).ConfigureAwait(false))
            {
                break;
            }
        }

        if (ahead is not null)
        {
            // Stopping with a read still out: what it delivered is handled during the grace period.
            try
            {
                DispatchBatch(await ahead.ConfigureAwait(false), null, aheadReserved);
            }
#pragma warning disable CA1031 // The entries of a failed read stay pending and are reclaimed.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _slots.Release(aheadReserved);
                _logger.ReadFailed(ex, StreamName, GroupName, TimeSpan.Zero);
            }
        }
    }

    /// <summary>Takes up to <paramref name="max"/> free handler slots without waiting; returns how many it took.</summary>
    private int ReserveSlots(int max)
    {
        var taken = 0;
        while (taken < max && _slots.Wait(0, CancellationToken.None))
        {
            taken++;
        }

        return taken;
    }

    /// <summary>Starts handling a batch in the slots reserved for it, and gives back the slots it did not use.</summary>
    private void DispatchBatch(StreamEntry[] entries, long[]? deliveryCounts, int reserved)
    {
        var used = 0;
        for (var i = 0; i < entries.Length && used < reserved; i++)
        {
            if (Dispatch(entries[i], deliveryCounts?[i] ?? 1))
            {
                used++;
            }
        }

        if (reserved > used)
        {
            _slots.Release(reserved - used);
        }
    }

    /// <summary>
    /// Reads new entries. While there is a backlog (or in polling mode) the typed, non-blocking XREADGROUP on the
    /// shared connection is used; when it comes back short, the next read blocks on the dedicated connection.
    /// </summary>
    private async Task<StreamEntry[]> ReadNewAsync(int count, bool backlog)
    {
        if (_options.ReadMode == StreamReadMode.Polling || backlog)
        {
            var entries = await Database.StreamReadGroupAsync(_key, _group, ConsumerName, StreamPosition.NewMessages, count).ConfigureAwait(false);
            if (entries.Length > 0 || _options.ReadMode == StreamReadMode.Polling)
            {
                return entries;
            }
        }

        var connection = _blockingConnection;
        if (connection is null)
        {
            connection = await StreamsConnections.ConnectBlockingAsync(_streamsOptions, _connection, "firstsip-reader-" + ConsumerName, _options.BlockTime).ConfigureAwait(false);
            _blockingConnection = connection;
        }

        var blockMs = (long)Math.Max(1, Math.Min(_options.BlockTime.TotalMilliseconds, connection.TimeoutMilliseconds / 2));
        // Not abandoned on stop: the read returns within the block time, and what it delivered is handled during the
        // shutdown grace period instead of waiting, pending, for another consumer's claim timeout.
        var reply = await connection.GetDatabase()
            .ExecuteAsync("XREADGROUP", ["GROUP", _group, ConsumerName, "COUNT", count, "BLOCK", blockMs, "STREAMS", _key, ">"])
            .ConfigureAwait(false);
        return ReadReplyParser.Parse(reply);
    }

    /// <summary>
    /// Starts processing an entry in a slot the caller reserved; returns false (slot not used) when it is already in flight.
    /// </summary>
    private bool Dispatch(StreamEntry entry, long deliveryCount)
    {
        var id = entry.Id.ToString();
        if (!_inFlight.TryAdd(id, null))
        {
            return false;
        }

        var task = ProcessAsync(entry, id, deliveryCount);
        if (!task.IsCompleted)
        {
            _inFlight.TryUpdate(id, task, null);
        }

        return true;
    }

    private async Task<long[]> GetDeliveryCountsAsync(StreamEntry[] entries)
    {
        var counts = new long[entries.Length];
        Array.Fill(counts, 1);
        if (entries.Length == 0)
        {
            return counts;
        }

        var pending = await Database.StreamPendingMessagesAsync(
            _key, _group, entries.Length * 2, ConsumerName, entries[0].Id, entries[^1].Id).ConfigureAwait(false);
        var byId = new Dictionary<RedisValue, long>(pending.Length);
        foreach (var info in pending)
        {
            byId[info.MessageId] = info.DeliveryCount;
        }

        for (var i = 0; i < entries.Length; i++)
        {
            if (byId.TryGetValue(entries[i].Id, out var count))
            {
                counts[i] = Math.Max(1, count);
            }
        }

        return counts;
    }
}
