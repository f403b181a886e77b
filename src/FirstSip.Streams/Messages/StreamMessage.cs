namespace FirstSip.Streams;

/// <summary>
/// A decoded stream entry handed to an <see cref="IStreamMessageHandler{T}"/>: the message and its delivery details.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
public sealed class StreamMessage<T>
{
    /// <summary>Gets the entry id (for example <c>1718000000000-0</c>).</summary>
    public required string Id { get; init; }

    /// <summary>Gets the name of the stream the entry was read from.</summary>
    public required string StreamName { get; init; }

    /// <summary>Gets the decoded message.</summary>
    public required T Message { get; init; }

    /// <summary>Gets how many times the entry has been delivered to a consumer of the group.</summary>
    /// <value>1 on the first delivery.</value>
    public long DeliveryCount { get; init; } = 1;

    /// <summary>Gets the time the publisher wrote into <c>published_at</c>, if present.</summary>
    public DateTimeOffset? PublishedAt { get; init; }

    /// <summary>Gets the W3C <c>traceparent</c> of the publishing span, if present.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Gets the W3C <c>tracestate</c> of the publishing span, if present.</summary>
    public string? TraceState { get; init; }
}
