using System.Runtime.InteropServices;
using System.Text.Json;
using FirstSip.Streams.Internal;
using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// The protocol v1 codec of <see cref="PluginRequest"/> entries.
/// </summary>
/// <remarks>
/// Poison reasons: <c>missing payload</c>, <c>payload is not valid JSON</c>, <c>payload is not a JSON object</c>,
/// <c>unsupported schema_version &lt;v&gt;</c>, <c>plugin_run_id is required</c>, <c>plugin_name is required</c>,
/// <c>settings must be a JSON object</c>. The key is the run id text whenever it was readable.
/// </remarks>
public sealed class PluginRequestCodec : IStreamEntryCodec<PluginRequest>, IPayloadSizeBound<PluginRequest>, IEntryFieldsDecoder<PluginRequest>, IEnvelopeEncoder<PluginRequest>
{
    /// <summary>Gets the shared instance.</summary>
    public static PluginRequestCodec Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    public NameValueEntry[] Encode(PluginRequest message) => Encode(message, 0, null);

    /// <inheritdoc/>
    NameValueEntry[] IEnvelopeEncoder<PluginRequest>.Encode(PluginRequest message, int reserve, PayloadArena? arena) => Encode(message, reserve, arena);

    private static NameValueEntry[] Encode(PluginRequest message, int reserve, PayloadArena? arena)
    {
        ArgumentNullException.ThrowIfNull(message);
        var payload = WireJson.WritePayload(message, arena, static (writer, request) =>
        {
            writer.WriteString(WireJson.RunIdName, request.PluginRunId);
            writer.WriteString(WireJson.PluginNameName, request.PluginName);
            var userId = request.UserId ?? string.Empty;
            if (WireJson.IsCanonicalInteger(userId))
            {
                writer.WritePropertyName(WireJson.UserIdName);
                writer.WriteRawValue(userId, skipInputValidation: true);
            }
            else
            {
                writer.WriteString(WireJson.UserIdName, userId);
            }

            writer.WritePropertyName(WireJson.SettingsName);
            if (request.Settings.ValueKind == JsonValueKind.Undefined)
            {
                WireJson.EmptyObject.WriteTo(writer);
            }
            else
            {
                request.Settings.WriteTo(writer);
            }
        });

        var count = 3 + (message.Deadline.HasValue ? 1 : 0) + (message.QueueDeadline.HasValue ? 1 : 0) + (message.TimeoutSeconds.HasValue ? 1 : 0)
            + (message.Secrets is null ? 0 : 1);
        var fields = new NameValueEntry[count + reserve];
        var i = 0;
        fields[i++] = new(WireFields.Payload, payload);
        fields[i++] = new(WireFields.SchemaVersion, WireFields.V1);
        fields[i++] = new(WireFields.Attempt, message.Attempt);
        if (message.Deadline is { } deadline)
        {
            fields[i++] = new(WireFields.Deadline, deadline.ToUnixTimeMilliseconds());
        }

        if (message.QueueDeadline is { } queueDeadline)
        {
            fields[i++] = new(WireFields.QueueDeadline, queueDeadline.ToUnixTimeMilliseconds());
        }

        if (message.TimeoutSeconds is { } timeout)
        {
            fields[i++] = new(WireFields.TimeoutSeconds, timeout);
        }

        if (message.Secrets is { } secrets)
        {
            fields[i] = new(WireFields.Secrets, secrets);
        }

        return fields;
    }

    /// <inheritdoc/>
    long IPayloadSizeBound<PluginRequest>.MaxPayloadBytes(PluginRequest message)
    {
        // Settings are re-written from their JSON text: every byte of it becomes at most 6.
        var settings = message.Settings.ValueKind == JsonValueKind.Undefined ? 2 : 6L * JsonMarshal.GetRawUtf8Value(message.Settings).Length;
        return JsonSizeBound.Fixed + JsonSizeBound.Of(message.PluginName) + JsonSizeBound.Of(message.UserId) + settings;
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="fields"/> is null.</exception>
    public StreamDecodeResult<PluginRequest> Decode(NameValueEntry[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return Decode(new EntryFields(fields));
    }

    /// <inheritdoc/>
    StreamDecodeResult<PluginRequest> IEntryFieldsDecoder<PluginRequest>.Decode(in EntryFields fields) => Decode(fields);

    private static StreamDecodeResult<PluginRequest> Decode(in EntryFields fields) => WireJson.DecodePluginMessage<PluginRequest>(fields, Read);

    private static StreamDecodeResult<PluginRequest> Read(in EntryFields fields, in PayloadObject payload, Guid runId)
    {
        var pluginName = payload.TryGet("plugin_name"u8, out var nameValue) && nameValue.TokenType == JsonTokenType.String
            ? nameValue.GetString()
            : null;
        if (string.IsNullOrEmpty(pluginName))
        {
            return StreamDecodeResult<PluginRequest>.Poison("plugin_name is required", WireJson.Key(runId));
        }

        var settings = WireJson.EmptyObject;
        if (payload.TryGet("settings"u8, out var settingsValue) && settingsValue.TokenType != JsonTokenType.Null)
        {
            if (settingsValue.TokenType != JsonTokenType.StartObject)
            {
                return StreamDecodeResult<PluginRequest>.Poison("settings must be a JSON object", WireJson.Key(runId));
            }

            settings = JsonElement.ParseValue(ref settingsValue);
        }

        var userId = string.Empty;
        if (payload.TryGet("user_id"u8, out var userValue))
        {
            userId = userValue.TokenType switch
            {
                JsonTokenType.String => userValue.GetString() ?? string.Empty,
                JsonTokenType.Number => payload.GetRawText("user_id"u8)!,
                _ => string.Empty,
            };
        }

        var attempt = fields.GetInt64(WireJson.Attempt);
        var deadline = fields.GetInt64(WireJson.Deadline);
        var queueDeadline = fields.GetInt64(WireJson.QueueDeadline);
        var timeout = fields.GetInt64(WireJson.TimeoutSeconds);
        var request = new PluginRequest
        {
            PluginRunId = runId,
            PluginName = pluginName,
            UserId = userId,
            Settings = settings,
            Attempt = attempt is >= 1 and <= int.MaxValue ? (int)attempt.Value : 1,
            Deadline = UnixMilliseconds(deadline),
            QueueDeadline = UnixMilliseconds(queueDeadline),
            TimeoutSeconds = timeout is >= 0 and <= int.MaxValue ? (int)timeout.Value : null,
            Secrets = fields.GetString(WireJson.Secrets),
        };
        return StreamDecodeResult<PluginRequest>.Success(request, runId);
    }

    private static DateTimeOffset? UnixMilliseconds(long? value) =>
        value is { } ms && ms >= -62_135_596_800_000 && ms <= 253_402_300_799_999 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}
