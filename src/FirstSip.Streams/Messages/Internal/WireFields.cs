using System.Text;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// The protocol's field names (and the schema version value) as UTF-8 bytes, encoded once: entries written with them
/// are sent without encoding the same names again for every message.
/// </summary>
internal static class WireFields
{
    public static readonly RedisValue Payload = Utf8(WireJson.Payload);
    public static readonly RedisValue SchemaVersion = Utf8(WireJson.SchemaVersion);
    public static readonly RedisValue V1 = Utf8(WireJson.V1);
    public static readonly RedisValue PublishedAt = Utf8(WireJson.PublishedAt);
    public static readonly RedisValue TraceParent = Utf8(WireJson.TraceParent);
    public static readonly RedisValue TraceState = Utf8(WireJson.TraceState);
    public static readonly RedisValue Attempt = Utf8(WireJson.Attempt);
    public static readonly RedisValue Deadline = Utf8(WireJson.Deadline);
    public static readonly RedisValue QueueDeadline = Utf8(WireJson.QueueDeadline);
    public static readonly RedisValue TimeoutSeconds = Utf8(WireJson.TimeoutSeconds);
    public static readonly RedisValue Secrets = Utf8(WireJson.Secrets);
    public static readonly RedisValue DurationMs = Utf8(WireJson.DurationMs);
    public static readonly RedisValue Worker = Utf8(WireJson.Worker);
    public static readonly RedisValue LastStep = Utf8(WireJson.LastStep);
    public static readonly RedisValue StartedAt = Utf8(WireJson.StartedAt);

    private static RedisValue Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
