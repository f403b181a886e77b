namespace FirstSip.Streams;

/// <summary>
/// Publishes typed messages to one stream.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
/// <remarks>
/// Each entry carries the codec's fields plus <c>published_at</c> (unix seconds) and, when there is a trace
/// context, <c>traceparent</c>/<c>tracestate</c>. The stream is never trimmed by MAXLEN on publish; use
/// <see cref="IStreamTrimmer"/>, which only removes entries every group has acknowledged.
/// </remarks>
public interface IStreamPublisher<T>
{
    /// <summary>Gets the name of the stream this publisher writes to.</summary>
    string StreamName { get; }

    /// <summary>Adds one message to the stream.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">A token that cancels waiting for the reply (the command may still reach Redis).</param>
    /// <returns>The id of the new entry.</returns>
    /// <exception cref="PayloadTooLargeException">The encoded payload is larger than <see cref="PluginStreamsOptions.MaxPayloadBytes"/>; nothing was sent.</exception>
    /// <exception cref="StreamPublishException">Redis failed or could not be reached.</exception>
    Task<string> PublishAsync(T message, CancellationToken cancellationToken = default);

    /// <summary>Adds many messages to the stream, pipelined with a bounded number of commands in flight.</summary>
    /// <param name="messages">The messages, added in this order.</param>
    /// <param name="cancellationToken">A token that stops sending further messages.</param>
    /// <returns>The ids of the new entries, in the order of <paramref name="messages"/>.</returns>
    /// <exception cref="PayloadTooLargeException">A message is too large; nothing was sent.</exception>
    /// <exception cref="StreamPublishException">Redis failed or could not be reached; some messages may have been added.</exception>
    Task<IReadOnlyList<string>> PublishManyAsync(IReadOnlyList<T> messages, CancellationToken cancellationToken = default);
}
