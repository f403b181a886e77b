using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Parses a raw XREADGROUP reply for one stream, in its RESP2 (nested arrays) or RESP3 (map) shape.</summary>
internal static class ReadReplyParser
{
    public static StreamEntry[] Parse(RedisResult reply)
    {
        if (reply.IsNull || reply.Length <= 0)
        {
            return [];
        }

        RedisResult entries;
        if (reply.Resp3Type == ResultType.Map)
        {
            // RESP3: { stream-name: [entries] }, flattened by the client as [name, entries, ...].
            entries = reply[1];
        }
        else
        {
            // RESP2: [[stream-name, [entries]], ...].
            entries = reply[0][1];
        }

        if (entries.IsNull || entries.Length <= 0)
        {
            return [];
        }

        var result = new StreamEntry[entries.Length];
        for (var i = 0; i < result.Length; i++)
        {
            var entry = entries[i];
            var id = (RedisValue)entry[0];
            var fields = entry.Length > 1 ? entry[1] : null;
            result[i] = new StreamEntry(id, ParseFields(fields));
        }

        return result;
    }

    private static NameValueEntry[] ParseFields(RedisResult? fields)
    {
        if (fields is null || fields.IsNull || fields.Length <= 0)
        {
            // A pending entry that was deleted from the stream comes back without fields.
            return [];
        }

        var values = new NameValueEntry[fields.Length / 2];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = new NameValueEntry((RedisValue)fields[2 * i], (RedisValue)fields[(2 * i) + 1]);
        }

        return values;
    }
}
