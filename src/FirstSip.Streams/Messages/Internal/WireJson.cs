using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using StackExchange.Redis;

namespace FirstSip.Streams.Internal;

/// <summary>Field names, constants and helpers shared by the wire codecs.</summary>
/// <summary>Reads a plugin message's own fields once <see cref="WireJson.DecodePluginMessage"/> has checked the common ones.</summary>
internal delegate StreamDecodeResult<T> PluginMessageReader<T>(in EntryFields fields, in PayloadObject payload, Guid runId);

internal static class WireJson
{
    public const string Payload = "payload";
    public const string SchemaVersion = "schema_version";
    public const string PublishedAt = "published_at";
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";
    public const string Attempt = "attempt";
    public const string Deadline = "deadline";
    public const string QueueDeadline = "queue_deadline";
    public const string TimeoutSeconds = "timeout_seconds";
    public const string Secrets = "secrets";
    public const string DurationMs = "duration_ms";
    public const string Worker = "worker";
    public const string LastStep = "last_step";
    public const string StartedAt = "started_at";
    public const string V1 = "v1";

    /// <summary>Top-level payload properties noted for lookups; a payload with more is still read, by scanning.</summary>
    public const int PropertyTableSize = 16;

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
    public static readonly JsonEncodedText RetryDelayName = JsonEncodedText.Encode("retry_delay_ms");
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

    /// <summary>
    /// Whether a field has the given name, compared as UTF-8 bytes: RedisValue's own equality would first try to
    /// read both sides as numbers, which costs more than the rest of a field lookup.
    /// </summary>
    public static bool NameIs(in NameValueEntry field, string name) => RedisValue.EqualityComparer.Binary.Equals(field.Name, name);

    /// <summary>Serializes a JSON payload written by <paramref name="write"/>: into <paramref name="arena"/> when given, else an array of its own.</summary>
    public static RedisValue WritePayload<TState>(TState state, PayloadArena? arena, Action<Utf8JsonWriter, TState> write)
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
        RedisValue payload = arena is null ? buffer.WrittenSpan.ToArray() : arena.Store(buffer.WrittenSpan);
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
    /// Decodes a plugin message: checks what every one needs before its own fields are read (a JSON object payload, a
    /// supported schema version and a readable <c>plugin_run_id</c>), then lets <paramref name="read"/> read the rest.
    /// A check that fails is poison with its reason, keyed by the run id when that was readable, and so is a string
    /// that cannot be decoded (a lone surrogate escape, invalid UTF-8).
    /// </summary>
    public static StreamDecodeResult<T> DecodePluginMessage<T>(in EntryFields fields, PluginMessageReader<T> read)
    {
        if (!fields.TryGet(Payload, out var json))
        {
            return StreamDecodeResult<T>.Poison(MissingPayload);
        }

        // The payload's top-level properties are noted on the stack; a plugin payload has a handful.
        Span<PayloadProperty> table = stackalloc PayloadProperty[PropertyTableSize];
        if (PayloadObject.TryOpen(json, table, out var payload) is { } error)
        {
            return StreamDecodeResult<T>.Poison(error);
        }

        var hasRunId = payload.TryGetRunId(out var runId);
        if (CheckSchemaVersion(fields) is { } versionError)
        {
            return StreamDecodeResult<T>.Poison(versionError, hasRunId ? Key(runId) : null);
        }

        if (!hasRunId)
        {
            return StreamDecodeResult<T>.Poison(RunIdRequired);
        }

        try
        {
            return read(fields, payload, runId);
        }
        catch (InvalidOperationException)
        {
            return StreamDecodeResult<T>.Poison(NotJson, Key(runId));
        }
    }

    /// <summary>The key of a plugin message: its run id as lowercase UUID text.</summary>
    public static string Key(Guid runId) => runId.ToString("D");

    /// <summary>Returns the poison reason for an unsupported schema version, or null when it is v1 (or absent).</summary>
    public static string? CheckSchemaVersion(in EntryFields fields)
    {
        // The original publishers always wrote v1; an entry without the field is read as v1.
        if (!fields.TryGet(SchemaVersion, out var version) || version.SequenceEqual("v1"u8))
        {
            return null;
        }

        return "unsupported schema_version " + Encoding.UTF8.GetString(version);
    }

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
