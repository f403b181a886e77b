using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using FirstSip.Streams.Internal;
using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// A general-purpose codec that stores a message as System.Text.Json in one <c>payload</c> field.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
/// <remarks>
/// Poison reasons: <c>missing payload</c>, <c>payload is not valid JSON</c> (including JSON that does not fit
/// <typeparamref name="T"/>), and <c>payload is null</c>.
/// </remarks>
public sealed class JsonStreamEntryCodec<T> : IStreamEntryCodec<T>, IEntryFieldsDecoder<T>
{
    private readonly JsonTypeInfo<T> _typeInfo;

    /// <summary>Initializes a new instance of the <see cref="JsonStreamEntryCodec{T}"/> class with the web defaults.</summary>
    public JsonStreamEntryCodec()
        : this(JsonSerializerOptions.Web)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="JsonStreamEntryCodec{T}"/> class.</summary>
    /// <param name="options">The serializer options.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public JsonStreamEntryCodec(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.MakeReadOnly(populateMissingResolver: true);
        _typeInfo = (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
    }

    /// <summary>Initializes a new instance of the <see cref="JsonStreamEntryCodec{T}"/> class from source-generated metadata.</summary>
    /// <param name="typeInfo">The type's serialization metadata.</param>
    /// <exception cref="ArgumentNullException"><paramref name="typeInfo"/> is null.</exception>
    public JsonStreamEntryCodec(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        _typeInfo = typeInfo;
    }

    /// <inheritdoc/>
    public NameValueEntry[] Encode(T message)
        => [new(WireFields.Payload, JsonSerializer.SerializeToUtf8Bytes(message, _typeInfo))];

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="fields"/> is null.</exception>
    public StreamDecodeResult<T> Decode(NameValueEntry[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return Decode(new EntryFields(fields));
    }

    /// <inheritdoc/>
    StreamDecodeResult<T> IEntryFieldsDecoder<T>.Decode(in EntryFields fields) => Decode(fields);

    private StreamDecodeResult<T> Decode(in EntryFields fields)
    {
        if (!fields.TryGet(WireJson.Payload, out var payload))
        {
            return StreamDecodeResult<T>.Poison(WireJson.MissingPayload);
        }

        T? message;
        try
        {
            message = JsonSerializer.Deserialize(payload, _typeInfo);
        }
        catch (JsonException)
        {
            return StreamDecodeResult<T>.Poison(WireJson.NotJson);
        }

        return message is null ? StreamDecodeResult<T>.Poison("payload is null") : StreamDecodeResult<T>.Success(message);
    }
}
