using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FirstSip.Streams.Internal;

/// <summary>
/// A JSON object payload read in place, without building a document: <see cref="TryOpen"/> validates the whole text
/// once, and each lookup scans the object's top level. As with <see cref="JsonDocument"/>, the last of duplicate
/// properties wins.
/// </summary>
internal readonly ref struct PayloadObject
{
    private readonly ReadOnlySpan<byte> _json;

    private PayloadObject(ReadOnlySpan<byte> json) => _json = json;

    /// <summary>Validates a payload; returns the poison reason, or null and the object.</summary>
    public static string? TryOpen(ReadOnlySpan<byte> json, out PayloadObject payload)
    {
        payload = default;
        var reader = new Utf8JsonReader(json);
        bool isObject;
        try
        {
            if (!reader.Read())
            {
                return WireJson.NotJson;
            }

            isObject = reader.TokenType == JsonTokenType.StartObject;
            reader.Skip();

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

        payload = new PayloadObject(json);
        return null;
    }

    /// <summary>Finds a top-level property; <paramref name="value"/> is then positioned on its value.</summary>
    public bool TryGet(ReadOnlySpan<byte> name, out Utf8JsonReader value)
    {
        var reader = new Utf8JsonReader(_json);
        reader.Read();
        value = default;
        var found = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(name);
            reader.Read();
            if (match)
            {
                value = reader;
                found = true;
            }

            reader.Skip();
        }

        return found;
    }

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
            _ => RawText(ref value),
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

    /// <summary>The exact JSON text of the value <paramref name="value"/> is positioned on.</summary>
    public string RawText(ref Utf8JsonReader value)
    {
        var start = (int)value.TokenStartIndex;
        value.Skip();
        return Encoding.UTF8.GetString(_json[start..(int)value.BytesConsumed]);
    }
}
