using Microsoft.Extensions.Logging;
using RESPite.Messages;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <content>
/// Receiving entries: new entries are read as a raw XREADGROUP reply and decoded in place, without materializing
/// their fields; recovered and reclaimed entries arrive as typed replies.
/// </content>
internal sealed partial class StreamReaderService<TMessage, THandler>
{
    private static readonly RedisKeyOrValue GroupArg = (RedisValue)"GROUP";
    private static readonly RedisKeyOrValue CountArg = (RedisValue)"COUNT";
    private static readonly RedisKeyOrValue BlockArg = (RedisValue)"BLOCK";
    private static readonly RedisKeyOrValue StreamsArg = (RedisValue)"STREAMS";
    private static readonly RedisKeyOrValue NewEntriesArg = (RedisValue)">";

    /// <summary>Received entries of the batch being dispatched; the read loop reuses it for every batch.</summary>
    private ReceivedEntry<TMessage>[] _received = [];

    /// <summary>The arguments of an XREADGROUP of new entries for this consumer.</summary>
    private RedisKeyOrValue[] ReadArguments(int count, long? blockMilliseconds)
    {
        RedisKeyOrValue consumer = (RedisValue)ConsumerName;
        RedisKeyOrValue group = _group;
        RedisKeyOrValue key = _key;
        return blockMilliseconds is { } block
            ? [GroupArg, group, consumer, CountArg, (RedisValue)count, BlockArg, (RedisValue)block, StreamsArg, key, NewEntriesArg]
            : [GroupArg, group, consumer, CountArg, (RedisValue)count, StreamsArg, key, NewEntriesArg];
    }

    /// <summary>Decodes the entries of a raw XREADGROUP reply (RESP2 or RESP3 shape) into the batch buffer; returns how many.</summary>
    private int ReceiveReply(RespResult reply)
    {
        if (reply.IsNull)
        {
            return 0;
        }

        var reader = reply.Read();
        if (reader.IsNull || reader.AggregateIsEmpty())
        {
            return 0;
        }

        if (reader.Prefix == RespPrefix.Map)
        {
            // RESP3: { stream-name: [entries] }.
            reader.MoveNextScalar();
        }
        else
        {
            // RESP2: [[stream-name, [entries]]].
            reader.MoveNextAggregate();
            reader.MoveNextScalar();
        }

        reader.MoveNextAggregate();
        var count = reader.AggregateLength();
        var received = BatchBuffer(count);
        for (var i = 0; i < count; i++)
        {
            reader.MoveNextAggregate();
            reader.MoveNextScalar();
            var id = reader.ReadString()!;
            reader.MoveNext();
            if (reader.IsNull || !reader.IsAggregate || reader.AggregateIsEmpty())
            {
                received[i] = new ReceivedEntry<TMessage> { Id = id, DeliveryCount = 1, Deleted = true };
                continue;
            }

            received[i] = Receive(id, new EntryFields(reader), 1);
            reader.SkipChildren();
        }

        return count;
    }

    /// <summary>Decodes typed entries (with their delivery counts) into the batch buffer; returns how many.</summary>
    private int ReceiveTyped(StreamEntry[] entries, long[] deliveryCounts)
    {
        var received = BatchBuffer(entries.Length);
        for (var i = 0; i < entries.Length; i++)
        {
            received[i] = Receive(entries[i], deliveryCounts[i]);
        }

        return entries.Length;
    }

    private ReceivedEntry<TMessage> Receive(StreamEntry entry, long deliveryCount)
    {
        var id = entry.Id.ToString();
        var values = entry.Values;
        return values is null || values.Length == 0
            ? new ReceivedEntry<TMessage> { Id = id, DeliveryCount = deliveryCount, Deleted = true }
            : Receive(id, new EntryFields(values), deliveryCount);
    }

    private ReceivedEntry<TMessage> Receive(string id, in EntryFields fields, long deliveryCount)
    {
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            _logger.EntryPayload(id, StreamName, fields.GetString(WireJson.Payload));
        }

        var size = fields.PayloadSize();
        var decoded = Decode(fields);

        // Only an entry that will be dead-lettered needs its fields again, to copy them to the dead-letter stream.
        var deadLetter = decoded.IsPoison || size > _streamsOptions.MaxPayloadBytes || deliveryCount > _options.MaxDeliveries;
        return new ReceivedEntry<TMessage>
        {
            Id = id,
            DeliveryCount = deliveryCount,
            Decoded = decoded,
            PayloadSize = size,
            Fields = deadLetter ? fields.ToArray() : null,
            PublishedAt = fields.GetInt64(WireJson.PublishedAt),
            TraceParent = fields.GetString(WireJson.TraceParent),
            TraceState = fields.GetString(WireJson.TraceState),
        };
    }

    private StreamDecodeResult<TMessage> Decode(in EntryFields fields)
    {
        try
        {
            return _codec is IEntryFieldsDecoder<TMessage> decoder ? decoder.Decode(fields) : _codec.Decode(fields.ToArray());
        }
#pragma warning disable CA1031 // A codec must not throw for bad input; if one does, the entry is poison, not a reason to stop reading.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return StreamDecodeResult<TMessage>.Poison("the codec failed: " + ex.Message);
        }
    }

    private ReceivedEntry<TMessage>[] BatchBuffer(int count)
    {
        if (_received.Length < count)
        {
            _received = new ReceivedEntry<TMessage>[Math.Max(count, _options.BatchSize)];
        }

        return _received;
    }
}
