using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <content>Upkeep loops: reclaim of idle entries (XAUTOCLAIM), renewal of in-flight entries, group lag.</content>
internal sealed partial class StreamReaderService<TMessage, THandler>
{
    private async Task RunClaimLoopAsync(CancellationToken cancellationToken)
    {
        // The first pass runs at start: entries a dead consumer left behind are picked up at once.
        do
        {
            try
            {
                await ClaimIdleAsync(cancellationToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Upkeep loops log and keep going.
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
                _logger.UpkeepFailed(ex, "claim", StreamName);
            }

            try
            {
                await UpdateLagAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Upkeep loops log and keep going.
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
                _logger.UpkeepFailed(ex, "lag", StreamName);
            }
        }
        while (await DelayAsync(_options.ClaimInterval, cancellationToken).ConfigureAwait(false));
    }

    private async Task RunRenewLoopAsync(CancellationToken cancellationToken)
    {
        while (await DelayAsync(_options.RenewInterval, cancellationToken).ConfigureAwait(false))
        {
            var ids = _inFlight.Keys.Select(static id => (RedisValue)id).ToArray();
            if (ids.Length == 0)
            {
                continue;
            }

            try
            {
                // XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery.
                await Database.StreamClaimIdsOnlyAsync(_key, _group, ConsumerName, 0, ids).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Upkeep loops log and keep going.
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
                _logger.RenewFailed(ex, ids.Length, StreamName);
            }
        }
    }

    private async Task ClaimIdleAsync(CancellationToken cancellationToken)
    {
        var minIdle = (long)_options.ClaimTimeout.TotalMilliseconds;
        var cursor = AutoClaimStart;
        do
        {
            // Claim no more than this reader can start handling soon (the read loop may hold slots during a blocking read).
            var free = Math.Min(_options.Concurrency - _inFlight.Count, _options.BatchSize);
            if (free <= 0 || cancellationToken.IsCancellationRequested)
            {
                return;
            }

            var result = await Database.StreamAutoClaimAsync(_key, _group, ConsumerName, minIdle, cursor, free).ConfigureAwait(false);
            if (result.IsNull)
            {
                return;
            }

            if (result.DeletedIds is { Length: > 0 } deleted)
            {
                // Redis removes these from the pending list itself; they are counted and logged, never handled.
                StreamsMetrics.Add(_metrics.DeletedWhilePending, deleted.Length, StreamName, GroupName);
                foreach (var id in deleted)
                {
                    _logger.DeletedWhilePending(id.ToString(), StreamName, GroupName);
                }
            }

            var claimed = result.ClaimedEntries.Where(e => !_inFlight.ContainsKey(e.Id.ToString())).ToArray();
            if (claimed.Length > 0)
            {
                StreamsMetrics.Add(_metrics.Reclaimed, claimed.Length, StreamName, GroupName);
                _logger.Reclaimed(claimed.Length, StreamName, ConsumerName);
                var counts = await GetDeliveryCountsAsync(claimed).ConfigureAwait(false);
                for (var i = 0; i < claimed.Length; i++)
                {
                    try
                    {
                        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // Stopping: the rest stay pending under this consumer and are reclaimed by others later.
                        return;
                    }

                    if (!Dispatch(Receive(claimed[i], counts[i])))
                    {
                        _slots.Release();
                    }
                }
            }

            cursor = result.NextStartId;
        }
        while (!cursor.IsNullOrEmpty && cursor != AutoClaimStart);
    }

    private async Task UpdateLagAsync()
    {
        var groups = await Database.StreamGroupInfoAsync(_key).ConfigureAwait(false);
        foreach (var group in groups)
        {
            if (group.Name == GroupName)
            {
                _state.SetLag(group.Lag);
                return;
            }
        }
    }
}
