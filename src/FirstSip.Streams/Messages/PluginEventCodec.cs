using FirstSip.Streams.Internal;
using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// The protocol v1 codec of <see cref="PluginEvent"/> entries.
/// </summary>
/// <remarks>
/// Poison reasons: <c>missing payload</c>, <c>payload is not valid JSON</c>, <c>payload is not a JSON object</c>,
/// <c>unsupported schema_version &lt;v&gt;</c>, <c>plugin_run_id is required</c>, <c>unknown kind &lt;value&gt;</c>.
/// The key is the run id text whenever it was readable.
/// </remarks>
public sealed class PluginEventCodec : IStreamEntryCodec<PluginEvent>, IPayloadSizeBound<PluginEvent>, IEntryFieldsDecoder<PluginEvent>, IEnvelopeEncoder<PluginEvent>
{
    /// <summary>Gets the shared instance.</summary>
    public static PluginEventCodec Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    public NameValueEntry[] Encode(PluginEvent message) => Encode(message, 0, null);

    /// <inheritdoc/>
    NameValueEntry[] IEnvelopeEncoder<PluginEvent>.Encode(PluginEvent message, int reserve, PayloadArena? arena) => Encode(message, reserve, arena);

    private static NameValueEntry[] Encode(PluginEvent message, int reserve, PayloadArena? arena)
    {
        ArgumentNullException.ThrowIfNull(message);
        var payload = WireJson.WritePayload(message, arena, static (writer, e) =>
        {
            writer.WriteString(WireJson.RunIdName, e.PluginRunId);
            writer.WriteString(WireJson.KindName, e.Kind switch
            {
                PluginEventKind.Started => "started",
                PluginEventKind.Step => "step",
                _ => "heartbeat",
            });
            writer.WriteString(WireJson.StepName, e.Step);
            writer.WriteString(WireJson.MessageName, e.Message);
            writer.WriteNumber(WireJson.AtName, e.At.ToUnixTimeMilliseconds());
        });

        var count = 2 + (message.Attempt.HasValue ? 1 : 0) + (message.Worker is null ? 0 : 1);
        var fields = new NameValueEntry[count + reserve];
        var i = 0;
        fields[i++] = new(WireFields.Payload, payload);
        fields[i++] = new(WireFields.SchemaVersion, WireFields.V1);
        if (message.Attempt is { } attempt)
        {
            fields[i++] = new(WireFields.Attempt, attempt);
        }

        if (message.Worker is { } worker)
        {
            fields[i] = new(WireFields.Worker, worker);
        }

        return fields;
    }

    /// <inheritdoc/>
    long IPayloadSizeBound<PluginEvent>.MaxPayloadBytes(PluginEvent message)
        => JsonSizeBound.Fixed + JsonSizeBound.Of(message.Step) + JsonSizeBound.Of(message.Message);

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="fields"/> is null.</exception>
    public StreamDecodeResult<PluginEvent> Decode(NameValueEntry[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return Decode(new EntryFields(fields));
    }

    /// <inheritdoc/>
    StreamDecodeResult<PluginEvent> IEntryFieldsDecoder<PluginEvent>.Decode(in EntryFields fields) => Decode(fields);

    private static StreamDecodeResult<PluginEvent> Decode(in EntryFields fields) => WireJson.DecodePluginMessage<PluginEvent>(fields, Read);

    private static StreamDecodeResult<PluginEvent> Read(in EntryFields fields, in PayloadObject payload, Guid runId)
    {
        var kindText = payload.GetString("kind"u8);
        PluginEventKind kind;
        switch (kindText?.ToUpperInvariant())
        {
            case "STARTED":
                kind = PluginEventKind.Started;
                break;
            case "STEP":
                kind = PluginEventKind.Step;
                break;
            case "HEARTBEAT":
                kind = PluginEventKind.Heartbeat;
                break;
            default:
                return StreamDecodeResult<PluginEvent>.Poison("unknown kind " + (kindText ?? "(missing)"), WireJson.Key(runId));
        }

        var at = payload.GetInt64("at"u8);
        var attempt = fields.GetInt64(WireJson.Attempt) ?? payload.GetInt64("attempt"u8);
        var e = new PluginEvent
        {
            PluginRunId = runId,
            Kind = kind,
            Step = payload.GetString("step"u8),
            Message = payload.GetString("message"u8),
            At = at is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : default,
            Attempt = attempt is >= 1 and <= int.MaxValue ? (int)attempt.Value : null,
            Worker = fields.GetString(WireJson.Worker) ?? payload.GetString("worker"u8),
        };
        return StreamDecodeResult<PluginEvent>.Success(e, runId);
    }
}
