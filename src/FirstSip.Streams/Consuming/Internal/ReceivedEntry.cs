using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>An entry as the reader received it: decoded at once, with what processing it needs from its fields.</summary>
/// <typeparam name="T">The message type.</typeparam>
internal readonly struct ReceivedEntry<T>
{
    /// <summary>Gets the entry id.</summary>
    public required string Id { get; init; }

    /// <summary>Gets how many times the group has delivered the entry.</summary>
    public required long DeliveryCount { get; init; }

    /// <summary>Gets a value indicating whether the entry was deleted from the stream while pending (it has no fields).</summary>
    public bool Deleted { get; init; }

    /// <summary>Gets the decoded message or the poison reason.</summary>
    public StreamDecodeResult<T> Decoded { get; init; }

    /// <summary>Gets the size the payload limit applies to.</summary>
    public long PayloadSize { get; init; }

    /// <summary>Gets the entry's original fields when it is to be dead-lettered (or they were at hand anyway); otherwise null.</summary>
    public NameValueEntry[]? Fields { get; init; }

    /// <summary>Gets the <c>published_at</c> field, in Unix seconds.</summary>
    public long? PublishedAt { get; init; }

    /// <summary>Gets the <c>traceparent</c> field.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Gets the <c>tracestate</c> field.</summary>
    public string? TraceState { get; init; }
}
