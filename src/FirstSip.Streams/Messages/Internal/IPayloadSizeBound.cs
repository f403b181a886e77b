namespace FirstSip.Streams.Internal;

/// <summary>
/// A codec that can tell, without encoding, an upper bound of a message's encoded payload size. Lets
/// <see cref="StreamPublisher{T}.PublishManyAsync"/> check every message against the limit up front and then encode
/// each one just before it is sent, instead of holding the whole encoded batch in memory.
/// </summary>
internal interface IPayloadSizeBound<in T>
{
    /// <summary>Returns a number of bytes the encoded payload never exceeds.</summary>
    long MaxPayloadBytes(T message);
}

/// <summary>Upper bounds of JSON text sizes.</summary>
internal static class JsonSizeBound
{
    /// <summary>Room for the property names, punctuation, a UUID, numbers and literals of a plugin payload.</summary>
    public const long Fixed = 256;

    /// <summary>A UTF-16 character is written as at most 6 bytes (<c>\uXXXX</c>).</summary>
    public static long Of(string? text) => text is null ? 4 : (6L * text.Length) + 2;
}
