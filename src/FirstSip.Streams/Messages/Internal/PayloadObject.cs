using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FirstSip.Streams.Internal;

/// <summary>Where one top-level property of a payload lies: its (still escaped) name and its whole value.</summary>
internal struct PayloadProperty
{
    public int NameStart;
    public int NameLength;
    public bool NameEscaped;
    public int ValueStart;
    public int ValueLength;
}

/// <summary>
/// A JSON object payload read in place, without building a document. <see cref="TryOpen"/> validates the whole text
/// in one pass and notes where each top-level property lies; lookups then read only the value asked for. As with
/// <see cref="JsonDocument"/>, the last of duplicate properties wins.
/// </summary>
internal readonly ref struct PayloadObject
{
    private readonly ReadOnlySpan<byte> _json;
    private readonly ReadOnlySpan<PayloadProperty> _properties;

    /// <summary>True when the object had more properties than the table had room for: lookups then scan the text.</summary>
    private readonly bool _overflow;

    private PayloadObject(ReadOnlySpan<byte> json, ReadOnlySpan<PayloadProperty> properties, bool overflow)
    {
        _json = json;
        _properties = properties;
        _overflow = overflow;
    }

    /// <summary>Validates a payload and notes its properties in <paramref name="table"/>; returns the poison reason, or null and the object.</summary>
    public static string? TryOpen(ReadOnlySpan<byte> json, Span<PayloadProperty> table, out PayloadObject payload)
    {
        payload = default;
        var reader = new Utf8JsonReader(json);
        var count = 0;
        var overflow = false;
        bool isObject;
        try
        {
            if (!reader.Read())
            {
                return WireJson.NotJson;
            }

            isObject = reader.TokenType == JsonTokenType.StartObject;
            if (isObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var property = new PayloadProperty
                    {
                        NameStart = (int)reader.TokenStartIndex + 1,
                        NameLength = reader.ValueSpan.Length,
                        NameEscaped = reader.ValueIsEscaped,
                    };
                    reader.Read();
                    property.ValueStart = (int)reader.TokenStartIndex;
                    reader.Skip();
                    property.ValueLength = (int)reader.BytesConsumed - property.ValueStart;
                    if (count < table.Length)
                    {
                        table[count++] = property;
                    }
                    else
                    {
                        overflow = true;
                    }
                }
            }
            else
            {
                reader.Skip();
            }

            // Anything after the value (other than white space) makes Read throw.
            if (reader.Read())
            {
                return WireJson.NotJson;
            }
        }
        catch (JsonException)
        {
            return WireJson.NotJson;
        }

        if (!isObject)
        {
            return WireJson.NotObject;
        }

        payload = new PayloadObject(json, table[..count], overflow);
        return null;
    }

    /// <summary>Finds a top-level property; <paramref name="value"/> is then positioned on its value.</summary>
    public bool TryGet(ReadOnlySpan<byte> name, out Utf8JsonReader value)
    {
        if (!TryFind(name, out var raw))
        {
            value = default;
            return false;
        }

        value = new Utf8JsonReader(raw);
        value.Read();
        return true;
    }

    /// <summary>The exact JSON text of a top-level property's value, or null when it is absent.</summary>
    public string? GetRawText(ReadOnlySpan<byte> name)
        => TryFind(name, out var raw) ? Encoding.UTF8.GetString(raw) : null;

    /// <summary>Whether a property is present and holds the literal <c>true</c>.</summary>
    public bool IsTrue(ReadOnlySpan<byte> name)
        => TryGet(name, out var value) && value.TokenType == JsonTokenType.True;

    /// <summary>A property's text: a string's value, null for null or absence, the raw JSON text of anything else.</summary>
    public string? GetString(ReadOnlySpan<byte> name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.TokenType switch
        {
            JsonTokenType.String => value.GetString(),
            JsonTokenType.Null => null,
            _ => GetRawText(name),
        };
    }

    /// <summary>A property as an integer, written as a JSON number or as a string of digits; otherwise null.</summary>
    public long? GetInt64(ReadOnlySpan<byte> name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.TokenType switch
        {
            JsonTokenType.Number when value.TryGetInt64(out var number) => number,
            JsonTokenType.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) => number,
            _ => null,
        };
    }

    /// <summary>Reads <c>plugin_run_id</c> as a UUID.</summary>
    public bool TryGetRunId(out Guid runId)
    {
        runId = default;
        return TryGet("plugin_run_id"u8, out var value)
            && value.TokenType == JsonTokenType.String
            && (value.TryGetGuid(out runId) || Guid.TryParse(value.GetString(), out runId));
    }

    /// <summary>Finds the JSON text of a top-level property's value.</summary>
    private bool TryFind(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> raw)
    {
        if (_overflow)
        {
            return TryScan(name, out raw);
        }

        for (var i = _properties.Length - 1; i >= 0; i--)
        {
            var property = _properties[i];
            if (NameEquals(property, name))
            {
                raw = _json.Slice(property.ValueStart, property.ValueLength);
                return true;
            }
        }

        raw = default;
        return false;
    }

    private bool NameEquals(in PayloadProperty property, ReadOnlySpan<byte> name)
    {
        var raw = _json.Slice(property.NameStart, property.NameLength);
        if (!property.NameEscaped)
        {
            return raw.SequenceEqual(name);
        }

        // An escaped name (for example "plugin\u005frun_id") is compared the way the reader unescapes it.
        var reader = new Utf8JsonReader(_json.Slice(property.NameStart - 1, property.NameLength + 2));
        reader.Read();
        return reader.ValueTextEquals(name);
    }

    private bool TryScan(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> raw)
    {
        var reader = new Utf8JsonReader(_json);
        reader.Read();
        raw = default;
        var found = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(name);
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            if (match)
            {
                raw = _json[start..(int)reader.BytesConsumed];
                found = true;
            }
        }

        return found;
    }
}
