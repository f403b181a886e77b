using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Field names, constants and helpers shared by the wire codecs.</summary>
internal static class WireJson
{
    public const string Payload = "payload";
    public const string SchemaVersion = "schema_version";
    public const string PublishedAt = "published_at";
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";
    public const string Attempt = "attempt";
    public const string Deadline = "deadline";
    public const string TimeoutSeconds = "timeout_seconds";
    public const string Secrets = "secrets";
    public const string DurationMs = "duration_ms";
    public const string Worker = "worker";
    public const string V1 = "v1";

    public const string MissingPayload = "missing payload";
    public const string NotJson = "payload is not valid JSON";
    public const string NotObject = "payload is not a JSON object";
    public const string RunIdRequired = "plugin_run_id is required";

    public static readonly JsonElement EmptyObject = CreateEmptyObject();

    // Property names encoded once: writing them is then a copy.
    public static readonly JsonEncodedText RunIdName = JsonEncodedText.Encode("plugin_run_id");
    public static readonly JsonEncodedText PluginNameName = JsonEncodedText.Encode("plugin_name");
    public static readonly JsonEncodedText UserIdName = JsonEncodedText.Encode("user_id");
    public static readonly JsonEncodedText SettingsName = JsonEncodedText.Encode("settings");
    public static readonly JsonEncodedText StatusName = JsonEncodedText.Encode("status");
    public static readonly JsonEncodedText OutputName = JsonEncodedText.Encode("output");
    public static readonly JsonEncodedText ErrorName = JsonEncodedText.Encode("error");
    public static readonly JsonEncodedText RetryableName = JsonEncodedText.Encode("retryable");
    public static readonly JsonEncodedText KindName = JsonEncodedText.Encode("kind");
    public static readonly JsonEncodedText StepName = JsonEncodedText.Encode("step");
    public static readonly JsonEncodedText MessageName = JsonEncodedText.Encode("message");
    public static readonly JsonEncodedText AtName = JsonEncodedText.Encode("at");
    public static readonly JsonEncodedText Completed = JsonEncodedText.Encode("completed");
    public static readonly JsonEncodedText Failed = JsonEncodedText.Encode("failed");

    /// <summary>Writer options: compact, and no escaping of non-ASCII text (the payload is never embedded in HTML).</summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    private static JsonElement CreateEmptyObject()
    {
        using var document = JsonDocument.Parse("{}");
        return document.RootElement.Clone();
    }

    /// <summary>Finds a field's value by name; the first occurrence wins.</summary>
    public static RedisValue Find(NameValueEntry[] fields, string name)
    {
        foreach (var field in fields)
        {
            if (field.Name == name)
            {
                return field.Value;
            }
        }

        return RedisValue.Null;
    }

    /// <summary>Serializes a JSON payload written by <paramref name="write"/> into UTF-8 bytes.</summary>
    public static byte[] WritePayload<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        // One buffer and writer per thread, reset for each payload: only the result array is allocated.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
        writer.Reset(buffer);
        writer.WriteStartObject();
        write(writer, state);
        writer.WriteEndObject();
        writer.Flush();
        var payload = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 64 * 1024)
        {
            // Do not keep a huge buffer alive on the thread after an unusually large payload.
            t_buffer = null;
            t_writer = null;
        }

        return payload;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>
    /// Parses the payload field into a JSON object, or returns the poison reason.
    /// </summary>
    public static string? TryParsePayload(NameValueEntry[] fields, out JsonDocument? document)
    {
        document = null;
        var payload = Find(fields, Payload);
        if (payload.IsNull)
        {
            return MissingPayload;
        }

        try
        {
            document = JsonDocument.Parse((ReadOnlyMemory<byte>)payload);
        }
        catch (JsonException)
        {
            return NotJson;
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            document = null;
            return NotObject;
        }

        return null;
    }

    /// <summary>
    /// Checks what every plugin message needs before its own fields are read: a JSON object payload, a supported
    /// schema version and a readable <c>plugin_run_id</c>. Returns the poison reason, with the run id as
    /// <paramref name="key"/> when it was readable; or null and the open document, which the caller disposes.
    /// </summary>
    public static string? TryOpenPluginMessage(NameValueEntry[] fields, out JsonDocument? document, out Guid runId, out string? key)
    {
        runId = default;
        key = null;
        var error = TryParsePayload(fields, out document);
        if (error is not null)
        {
            return error;
        }

        var hasRunId = TryGetRunId(document!.RootElement, out runId);
        if (CheckSchemaVersion(fields) is { } versionError)
        {
            key = hasRunId ? Key(runId) : null;
            error = versionError;
        }
        else if (!hasRunId)
        {
            error = RunIdRequired;
        }
        else
        {
            return null;
        }

        document.Dispose();
        document = null;
        return error;
    }

    /// <summary>The key of a plugin message: its run id as lowercase UUID text.</summary>
    public static string Key(Guid runId) => runId.ToString("D");

    /// <summary>Reads <c>plugin_run_id</c> as a UUID.</summary>
    public static bool TryGetRunId(JsonElement root, out Guid runId)
    {
        runId = default;
        if (root.TryGetProperty("plugin_run_id", out var value)
            && value.ValueKind == JsonValueKind.String
            && (value.TryGetGuid(out runId) || Guid.TryParse(value.GetString(), out runId)))
        {
            return true;
        }

        return false;
    }

    /// <summary>Returns the poison reason for an unsupported schema version, or null when it is v1 (or absent).</summary>
    public static string? CheckSchemaVersion(NameValueEntry[] fields)
    {
        var version = Find(fields, SchemaVersion);
        if (version.IsNull)
        {
            // The original publishers always wrote v1; an entry without the field is read as v1.
            return null;
        }

        var text = (string?)version;
        return text == V1 ? null : "unsupported schema_version " + text;
    }

    public static string? GetString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => value.GetRawText(),
        };
    }

    public static long? GetInt64(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var number) => number,
            JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) => number,
            _ => null,
        };
    }

    public static long? ParseInt64(RedisValue value)
    {
        if (value.IsNullOrEmpty)
        {
            return null;
        }

        return value.TryParse(out long number) ? number : null;
    }

    public static string? ParseString(RedisValue value) => value.IsNull ? null : (string?)value;

    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="text"/> is a canonical integer that fits in a long (written as a JSON number).</summary>
    public static bool IsCanonicalInteger(string text)
    {
        if (text.Length == 0 || text.Length > 20)
        {
            return false;
        }

        var digits = text.AsSpan(text[0] == '-' ? 1 : 0);
        if (digits.Length == 0 || (digits[0] == '0' && digits.Length > 1))
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return text != "-0" && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
    }

    public static int Utf8Length(RedisValue value) => value.IsNull ? 0 : (int)value.Length();
}
