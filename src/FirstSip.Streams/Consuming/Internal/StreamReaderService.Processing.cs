using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <content>Processing one entry: decode, handle and acknowledge, or dead-letter.</content>
internal sealed partial class StreamReaderService<TMessage, THandler>
{
    private async Task ProcessAsync(ReceivedEntry<TMessage> entry)
    {
        try
        {
            if (entry.Deleted)
            {
                // Deleted from the stream while pending: nothing to handle; drop it from the pending list.
                StreamsMetrics.Add(_metrics.DeletedWhilePending, 1, StreamName, GroupName);
                _logger.DeletedWhilePending(entry.Id, StreamName, GroupName);
                _acks.Writer.TryWrite(entry.Id);
                return;
            }

            var decoded = entry.Decoded;
            if (entry.PayloadSize > _streamsOptions.MaxPayloadBytes)
            {
                await DeadLetterAsync(entry, PayloadTooLargeException.Describe(entry.PayloadSize, _streamsOptions.MaxPayloadBytes), decoded.Key).ConfigureAwait(false);
                return;
            }

            if (decoded.IsPoison)
            {
                await DeadLetterAsync(entry, decoded.PoisonReason!, decoded.Key).ConfigureAwait(false);
                return;
            }

            if (entry.DeliveryCount > _options.MaxDeliveries && !_options.DeadLetterAfterMaxDeliveries)
            {
                _logger.DeliveredTooOften(entry.Id, StreamName, entry.DeliveryCount, _options.MaxDeliveries);
            }
            else if (entry.DeliveryCount > _options.MaxDeliveries)
            {
                var reason = string.Create(CultureInfo.InvariantCulture, $"delivered {entry.DeliveryCount} times, more than the maximum {_options.MaxDeliveries}");
                await DeadLetterAsync(entry, reason, decoded.Key).ConfigureAwait(false);
                return;
            }

            await HandleAsync(entry, decoded.Message!).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The process edge: a failure of one entry must never stop the reader.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StreamsMetrics.Add(_metrics.Failed, 1, StreamName, GroupName);
            _logger.HandlerFailed(ex, entry.Id, StreamName, entry.DeliveryCount);
        }
        finally
        {
            _inFlight.TryRemove(entry.Id, out _);
            _slots.Release();
        }
    }

    private async Task HandleAsync(ReceivedEntry<TMessage> entry, TMessage message)
    {
        var id = entry.Id;
        var envelope = new StreamMessage<TMessage>
        {
            Id = id,
            StreamName = StreamName,
            Message = message,
            DeliveryCount = entry.DeliveryCount,
            PublishedAt = entry.PublishedAt is { } seconds ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null,
            TraceParent = entry.TraceParent,
            TraceState = entry.TraceState,
        };

        using var activity = StartProcessActivity(id, entry.TraceParent, entry.TraceState, entry.DeliveryCount);
        var started = _timeProvider.GetTimestamp();
        try
        {
            var scope = _scopeFactory.CreateAsyncScope();
            try
            {
                var handler = scope.ServiceProvider.GetRequiredService<THandler>();
                await handler.HandleAsync(envelope, _handlerCancellation.Token).ConfigureAwait(false);
            }
            finally
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }

            _acks.Writer.TryWrite(id);
            StreamsMetrics.Add(_metrics.Processed, 1, StreamName, GroupName);
        }
        catch (OperationCanceledException) when (_handlerCancellation.IsCancellationRequested)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "cancelled");
            _logger.HandlerCancelled(id, StreamName);
        }
#pragma warning disable CA1031 // A handler failure leaves the entry pending; it is logged, counted and retried.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StreamsMetrics.Add(_metrics.Failed, 1, StreamName, GroupName);
            _logger.HandlerFailed(ex, id, StreamName, entry.DeliveryCount);
            if (activity is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, ex.Message);
                activity.SetTag(StreamsDiagnostics.ErrorType, ex.GetType().FullName);
                activity.AddException(ex);
            }
        }
        finally
        {
            if (_metrics.ProcessDuration.Enabled)
            {
                _metrics.ProcessDuration.Record(_timeProvider.GetElapsedTime(started).TotalSeconds, StreamsMetrics.Tags(StreamName, GroupName));
            }
        }
    }

    private Activity? StartProcessActivity(string id, string? traceParent, string? traceState, long deliveryCount)
    {
        if (!StreamsDiagnostics.Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(traceParent, traceState, out var parent);
        var activity = StreamsDiagnostics.Source.StartActivity(StreamName + " process", ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(StreamsDiagnostics.MessagingSystem, "redis");
            activity.SetTag(StreamsDiagnostics.DestinationName, StreamName);
            activity.SetTag(StreamsDiagnostics.ConsumerGroup, GroupName);
            activity.SetTag(StreamsDiagnostics.MessageId, id);
            activity.SetTag(StreamsDiagnostics.OperationType, "process");
            activity.SetTag("messaging.redis.delivery_count", deliveryCount);
        }

        return activity;
    }

    private async Task DeadLetterAsync(ReceivedEntry<TMessage> entry, string reason, string? key)
    {
        var id = entry.Id;
        var deadEntry = new DeadLetteredEntry
        {
            StreamName = StreamName,
            GroupName = GroupName,
            EntryId = id,
            Reason = reason,
            Key = key,
            DeliveryCount = entry.DeliveryCount,
        };

        try
        {
            var scope = _scopeFactory.CreateAsyncScope();
            try
            {
                var handler = scope.ServiceProvider.GetRequiredService<THandler>();
                await handler.OnDeadLetteredAsync(deadEntry, _handlerCancellation.Token).ConfigureAwait(false);
            }
            finally
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // If the handler cannot record the failure, nothing is acknowledged and the entry comes back.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StreamsMetrics.Add(_metrics.Failed, 1, StreamName, GroupName);
            _logger.DeadLetterFailed(ex, id, StreamName);
            return;
        }

        var original = entry.Fields ?? [];
        var fields = new NameValueEntry[original.Length + 5];
        original.CopyTo(fields, 0);
        var i = original.Length;
        fields[i++] = new("dead_reason", reason);
        fields[i++] = new("dead_original_id", id);
        fields[i++] = new("dead_group", GroupName);
        fields[i++] = new("dead_consumer", ConsumerName);
        fields[i] = new("dead_at", _timeProvider.GetUtcNow().ToUnixTimeMilliseconds());

        try
        {
            var transaction = Database.CreateTransaction();
            _ = transaction.StreamAddAsync(_deadKey, fields);
            _ = transaction.StreamAcknowledgeAsync(_key, _group, id);
            if (!await transaction.ExecuteAsync().ConfigureAwait(false))
            {
                throw new RedisException("The dead-letter transaction was not executed.");
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            StreamsMetrics.Add(_metrics.Failed, 1, StreamName, GroupName);
            _logger.DeadLetterFailed(ex, id, StreamName);
            return;
        }

        StreamsMetrics.Add(_metrics.DeadLettered, 1, StreamName, GroupName);
        _logger.DeadLettered(id, StreamName, (string)_deadKey!, reason);
    }
}
