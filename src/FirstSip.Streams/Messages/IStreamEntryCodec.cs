using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// Converts a message to and from the fields of a stream entry.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
/// <remarks>
/// <see cref="Encode"/> writes the message's own fields (for plugin messages: <c>payload</c>, <c>schema_version</c>,
/// <c>attempt</c>, ...); the publisher adds <c>published_at</c>, <c>traceparent</c> and <c>tracestate</c>.
/// <see cref="Decode"/> ignores fields it does not know and never throws for bad input: it returns a poison result.
/// </remarks>
public interface IStreamEntryCodec<T>
{
    /// <summary>Encodes a message into entry fields.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The fields to add to the stream.</returns>
    NameValueEntry[] Encode(T message);

    /// <summary>Decodes entry fields into a message, or classifies the entry as poison.</summary>
    /// <param name="fields">The entry's fields, as read from the stream.</param>
    /// <returns>The decoded message or the poison reason.</returns>
    StreamDecodeResult<T> Decode(NameValueEntry[] fields);
}
