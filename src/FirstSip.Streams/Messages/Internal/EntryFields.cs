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
    // The protocol's fields, found in one pass over a raw entry; a lookup of any other name scans the entry again.
    private const int PayloadBit = 1, SchemaVersionBit = 2, PublishedAtBit = 4, TraceParentBit = 8, TraceStateBit = 16,
        AttemptBit = 32, DurationMsBit = 64, WorkerBit = 128;

    private readonly NameValueEntry[]? _fields;
    private readonly RespReader _raw;
    private readonly int _found;
    private readonly ReadOnlySpan<byte> _payload;
    private readonly ReadOnlySpan<byte> _schemaVersion;
    private readonly ReadOnlySpan<byte> _publishedAt;
    private readonly ReadOnlySpan<byte> _traceParent;
    private readonly ReadOnlySpan<byte> _traceState;
    private readonly ReadOnlySpan<byte> _attempt;
    private readonly ReadOnlySpan<byte> _durationMs;
    private readonly ReadOnlySpan<byte> _worker;

    /// <summary>A view of materialized fields.</summary>
    public EntryFields(NameValueEntry[] fields) => _fields = fields;

    /// <summary>A view of a raw entry; <paramref name="fieldArray"/> is positioned on the entry's field array.</summary>
    public EntryFields(in RespReader fieldArray)
    {
        _raw = fieldArray.Clone();
        var reader = fieldArray.Clone();
        var count = reader.AggregateLength() / 2;
        for (var i = 0; i < count; i++)
        {
            reader.MoveNextScalar();
            var bit = KnownBit(ref reader);
            reader.MoveNextScalar();
            if (bit == 0 || (_found & bit) != 0)
            {
                // Not a protocol field, or a repeated one (the first occurrence wins).
                continue;
            }

            var value = Value(ref reader);
            _found |= bit;
            switch (bit)
            {
                case PayloadBit: _payload = value; break;
                case SchemaVersionBit: _schemaVersion = value; break;
                case PublishedAtBit: _publishedAt = value; break;
                case TraceParentBit: _traceParent = value; break;
                case TraceStateBit: _traceState = value; break;
                case AttemptBit: _attempt = value; break;
                case DurationMsBit: _durationMs = value; break;
                default: _worker = value; break;
            }
        }
    }

    /// <summary>Finds a field's value; the span lives as long as the reply or fields it was read from.</summary>
    public bool TryGet(string name, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (_fields is not null)
        {
            foreach (var field in _fields)
            {
                if (WireJson.NameIs(field, name))
                {
                    value = ((ReadOnlyMemory<byte>)field.Value).Span;
                    return true;
                }
            }

            return false;
        }

        var bit = KnownBit(name);
        if (bit != 0)
        {
            value = bit switch
            {
                PayloadBit => _payload,
                SchemaVersionBit => _schemaVersion,
                PublishedAtBit => _publishedAt,
                TraceParentBit => _traceParent,
                TraceStateBit => _traceState,
                AttemptBit => _attempt,
                DurationMsBit => _durationMs,
                _ => _worker,
            };
            return (_found & bit) != 0;
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
                value = Value(ref reader);
                return true;
            }
        }

        return false;
    }

    private static int KnownBit(string name) => name switch
    {
        WireJson.Payload => PayloadBit,
        WireJson.SchemaVersion => SchemaVersionBit,
        WireJson.PublishedAt => PublishedAtBit,
        WireJson.TraceParent => TraceParentBit,
        WireJson.TraceState => TraceStateBit,
        WireJson.Attempt => AttemptBit,
        WireJson.DurationMs => DurationMsBit,
        WireJson.Worker => WorkerBit,
        _ => 0,
    };

    private static int KnownBit(scoped ref RespReader name)
    {
        if (!name.TryGetSpan(out var text))
        {
            return 0;
        }

        return text switch
        {
            _ when text.SequenceEqual("payload"u8) => PayloadBit,
            _ when text.SequenceEqual("schema_version"u8) => SchemaVersionBit,
            _ when text.SequenceEqual("published_at"u8) => PublishedAtBit,
            _ when text.SequenceEqual("traceparent"u8) => TraceParentBit,
            _ when text.SequenceEqual("tracestate"u8) => TraceStateBit,
            _ when text.SequenceEqual("attempt"u8) => AttemptBit,
            _ when text.SequenceEqual("duration_ms"u8) => DurationMsBit,
            _ when text.SequenceEqual("worker"u8) => WorkerBit,
            _ => 0,
        };
    }

    /// <summary>The scalar the reader is on; a value split across buffer segments is copied out, a contiguous one read where it lies.</summary>
    private static ReadOnlySpan<byte> Value(scoped ref RespReader reader)
        => reader.TryGetSpan(out var span) ? span : reader.ReadByteArray();

    /// <summary>The size of the payload field, or of all values when there is none: what the payload limit applies to.</summary>
    public long PayloadSize()
    {
        if (_fields is not null)
        {
            // Measured on the values as they are, without turning text into bytes.
            long total = 0;
            foreach (var field in _fields)
            {
                if (WireJson.NameIs(field, WireJson.Payload))
                {
                    return WireJson.Utf8Length(field.Value);
                }

                total += WireJson.Utf8Length(field.Value);
            }

            return total;
        }

        if (TryGet(WireJson.Payload, out var payload))
        {
            return payload.Length;
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
