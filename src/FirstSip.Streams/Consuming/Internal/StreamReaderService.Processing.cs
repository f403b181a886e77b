using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <content>Processing one entry: decode, handle and acknowledge, or dead-letter.</content>
internal sealed partial class StreamReaderService<TMessage, THandler>
{
    private async Task ProcessAsync(StreamEntry entry, string id, long deliveryCount)
    {
        try
        {
            var fields = entry.Values;
            if (fields is null || fields.Length == 0)
            {
                // Deleted from the stream while pending: nothing to handle; drop it from the pending list.
                StreamsMetrics.Add(_metrics.DeletedWhilePending, 1, StreamName, GroupName);
                _logger.DeletedWhilePending(id, StreamName, GroupName);
                _acks.Writer.TryWrite(entry.Id);
                return;
            }

            if (_logger.IsEnabled(LogLevel.Trace))
            {
                _logger.EntryPayload(id, StreamName, WireJson.ParseString(WireJson.Find(fields, WireJson.Payload)));
            }

            var size = PayloadSize(fields);
            if (size > _streamsOptions.MaxPayloadBytes)
            {
                var key = _codec.Decode(fields).Key;
                await DeadLetterAsync(entry, id, PayloadTooLargeException.Describe(size, _streamsOptions.MaxPayloadBytes), key, deliveryCount).ConfigureAwait(false);
                return;
            }

            var decoded = _codec.Decode(fields);
            if (decoded.IsPoison)
            {
                await DeadLetterAsync(entry, id, decoded.PoisonReason!, decoded.Key, deliveryCount).ConfigureAwait(false);
                return;
            }

            if (deliveryCount > _options.MaxDeliveries)
            {
                var reason = string.Create(CultureInfo.InvariantCulture, $"delivered {deliveryCount} times, more than the maximum {_options.MaxDeliveries}");
                await DeadLetterAsync(entry, id, reason, decoded.Key, deliveryCount).ConfigureAwait(false);
                return;
            }

            await HandleAsync(entry, id, decoded.Message!, fields, deliveryCount).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The process edge: a failure of one entry must never stop the reader.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StreamsMetrics.Add(_metrics.Failed, 1, StreamName, GroupName);
            _logger.HandlerFailed(ex, id, StreamName, deliveryCount);
        }
        finally
        {
            _inFlight.TryRemove(id, out _);
            _slots.Release();
        }
    }

    private static long PayloadSize(NameValueEntry[] fields)
    {
        var payload = WireJson.Find(fields, WireJson.Payload);
        if (!payload.IsNull)
        {
            return WireJson.Utf8Length(payload);
        }

        long size = 0;
        foreach (var field in fields)
        {
            size += WireJson.Utf8Length(field.Value);
        }

        return size;
    }

    private async Task HandleAsync(StreamEntry entry, string id, TMessage message, NameValueEntry[] fields, long deliveryCount)
    {
        var traceParent = WireJson.ParseString(WireJson.Find(fields, WireJson.TraceParent));
        var traceState = WireJson.ParseString(WireJson.Find(fields, WireJson.TraceState));
        var publishedAt = WireJson.ParseInt64(WireJson.Find(fields, WireJson.PublishedAt));
        var envelope = new StreamMessage<TMessage>
        {
            Id = id,
            StreamName = StreamName,
            Message = message,
            DeliveryCount = deliveryCount,
            PublishedAt = publishedAt is { } seconds ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null,
            TraceParent = traceParent,
            TraceState = traceState,
        };

        using var activity = StartProcessActivity(id, traceParent, traceState, deliveryCount);
        var started = _timeProvider.GetTimestamp();
        try
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var handler = scope.ServiceProvider.GetRequiredService<THandler>();
                await handler.HandleAsync(envelope, _handlerCancellation.Token).ConfigureAwait(false);
            }

            _acks.Writer.TryWrite(entry.Id);
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
            _logger.HandlerFailed(ex, id, StreamName, deliveryCount);
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

    private async Task DeadLetterAsync(StreamEntry entry, string id, string reason, string? key, long deliveryCount)
    {
        var deadEntry = new DeadLetteredEntry
        {
            StreamName = StreamName,
            GroupName = GroupName,
            EntryId = id,
            Reason = reason,
            Key = key,
            DeliveryCount = deliveryCount,
        };

        try
        {
            var scope = _scopeFactory.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var handler = scope.ServiceProvider.GetRequiredService<THandler>();
                await handler.OnDeadLetteredAsync(deadEntry, _handlerCancellation.Token).ConfigureAwait(false);
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

        var original = entry.Values;
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
            _ = transaction.StreamAcknowledgeAsync(_key, _group, entry.Id);
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
