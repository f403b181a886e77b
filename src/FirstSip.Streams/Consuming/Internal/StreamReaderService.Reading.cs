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
        Task<RespResult>? ahead = null;
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
            int count;
            try
            {
                if (ahead is not null)
                {
                    var read = ahead;
                    ahead = null;
                    using var reply = await read.ConfigureAwait(false);
                    count = ReceiveReply(reply);
                    backlog = count == reserved;
                }
                else if (recovering)
                {
                    var entries = await Database.StreamReadGroupAsync(_key, _group, ConsumerName, recoverCursor, reserved).ConfigureAwait(false);
                    count = 0;
                    if (entries.Length == 0)
                    {
                        recovering = false;
                    }
                    else
                    {
                        recoverCursor = entries[^1].Id;
                        count = ReceiveTyped(entries, await GetDeliveryCountsAsync(entries).ConfigureAwait(false));
                        _logger.RecoveredPending(entries.Length, ConsumerName, StreamName);
                    }
                }
                else
                {
                    count = await ReadNewAsync(reserved, backlog).ConfigureAwait(false);

                    // A full read means more is probably waiting: read again without blocking.
                    backlog = count == reserved;
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
            if (backlog && !wasRecovering && count > 0 && !stoppingToken.IsCancellationRequested
                && Volatile.Read(ref _recoveryRequested) == 0)
            {
                aheadReserved = ReserveSlots(_options.BatchSize);
                if (aheadReserved > 0)
                {
                    ahead = Database.ExecuteRespAsync("XREADGROUP", ReadArguments(aheadReserved, null));
                }
            }

            DispatchBatch(count, reserved);

            if (count == 0 && !wasRecovering && _options.ReadMode == StreamReadMode.Polling
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
                using var reply = await ahead.ConfigureAwait(false);
                DispatchBatch(ReceiveReply(reply), aheadReserved);
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

    /// <summary>Starts handling the received batch in the slots reserved for it, and gives back the slots it did not use.</summary>
    private void DispatchBatch(int count, int reserved)
    {
        var used = 0;
        for (var i = 0; i < count && used < reserved; i++)
        {
            if (Dispatch(_received[i]))
            {
                used++;
            }
        }

        // The buffer is reused for the next batch; it does not keep these messages alive meanwhile.
        Array.Clear(_received, 0, count);
        if (reserved > used)
        {
            _slots.Release(reserved - used);
        }
    }

    /// <summary>
    /// Reads new entries into the batch buffer. While there is a backlog (or in polling mode) the read does not block
    /// and goes over the shared connection; when it comes back empty, the next read blocks on the dedicated connection.
    /// </summary>
    private async Task<int> ReadNewAsync(int count, bool backlog)
    {
        if (_options.ReadMode == StreamReadMode.Polling || backlog)
        {
            using var reply = await Database.ExecuteRespAsync("XREADGROUP", ReadArguments(count, null)).ConfigureAwait(false);
            var received = ReceiveReply(reply);
            if (received > 0 || _options.ReadMode == StreamReadMode.Polling)
            {
                return received;
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
        using var blocked = await connection.GetDatabase().ExecuteRespAsync("XREADGROUP", ReadArguments(count, blockMs)).ConfigureAwait(false);
        return ReceiveReply(blocked);
    }

    /// <summary>
    /// Starts processing an entry in a slot the caller reserved; returns false (slot not used) when it is already in flight.
    /// </summary>
    private bool Dispatch(in ReceivedEntry<TMessage> entry)
    {
        if (!_inFlight.TryAdd(entry.Id, null))
        {
            return false;
        }

        var task = ProcessAsync(entry);
        if (!task.IsCompleted)
        {
            _inFlight.TryUpdate(entry.Id, task, null);
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
