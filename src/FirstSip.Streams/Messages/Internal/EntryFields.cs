using RESPite.Messages;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>
/// The fields of one stream entry, read in place: either fields already materialized (a typed reply, or a message
/// just encoded) or the field array of a raw RESP reply, whose values are then read without copying them.
/// </summary>
/// <remarks>When a name occurs more than once, the first occurrence wins.</remarks>
internal readonly ref struct EntryFields
{
    private readonly NameValueEntry[]? _fields;
    private readonly RespReader _raw;

    /// <summary>A view of materialized fields.</summary>
    public EntryFields(NameValueEntry[] fields) => _fields = fields;

    /// <summary>A view of a raw entry; <paramref name="fieldArray"/> is positioned on the entry's field array.</summary>
    public EntryFields(in RespReader fieldArray) => _raw = fieldArray.Clone();

    /// <summary>Finds a field's value; the span lives as long as the reply or fields it was read from.</summary>
    public bool TryGet(string name, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (_fields is not null)
        {
            foreach (var field in _fields)
            {
                if (field.Name == name)
                {
                    value = ((ReadOnlyMemory<byte>)field.Value).Span;
                    return true;
                }
            }

            return false;
        }

        var reader = _raw.Clone();
        var count = reader.AggregateLength() / 2;
        for (var i = 0; i < count; i++)
        {
            reader.MoveNextScalar();
            var match = reader.Is(name.AsSpan());
            reader.MoveNextScalar();
            if (match)
            {
                // A value split across buffer segments is copied out; a contiguous one is read where it lies.
                value = reader.TryGetSpan(out var span) ? span : reader.ReadByteArray();
                return true;
            }
        }

        return false;
    }

    /// <summary>The size of the payload field, or of all values when there is none: what the payload limit applies to.</summary>
    public long PayloadSize()
    {
        if (TryGet(WireJson.Payload, out var payload))
        {
            return payload.Length;
        }

        if (_fields is not null)
        {
            long total = 0;
            foreach (var field in _fields)
            {
                total += WireJson.Utf8Length(field.Value);
            }

            return total;
        }

        var reader = _raw.Clone();
        var count = reader.AggregateLength() / 2;
        long size = 0;
        for (var i = 0; i < count; i++)
        {
            reader.MoveNextScalar();
            reader.MoveNextScalar();
            size += reader.ScalarLongLength();
        }

        return size;
    }

    /// <summary>A field's value as text, or null when the field is absent.</summary>
    public string? GetString(string name)
        => TryGet(name, out var value) ? System.Text.Encoding.UTF8.GetString(value) : null;

    /// <summary>A field's value as an integer, or null when it is absent or not an integer.</summary>
    public long? GetInt64(string name)
        => TryGet(name, out var value)
            && long.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    /// <summary>The fields as an array (copied out of a raw reply), for a codec without a span decoder and for dead-lettering.</summary>
    public NameValueEntry[] ToArray()
    {
        if (_fields is not null)
        {
            return _fields;
        }

        var reader = _raw.Clone();
        var fields = new NameValueEntry[reader.AggregateLength() / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            reader.MoveNextScalar();
            RedisValue name = reader.ReadByteArray();
            reader.MoveNextScalar();
            fields[i] = new NameValueEntry(name, reader.ReadByteArray());
        }

        return fields;
    }
}

/// <summary>A codec that decodes an entry's fields in place, without materializing them first.</summary>
internal interface IEntryFieldsDecoder<T>
{
    /// <summary>Decodes the fields into a message, or classifies the entry as poison; never throws for bad input.</summary>
    StreamDecodeResult<T> Decode(in EntryFields fields);
}
