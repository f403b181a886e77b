using System.Text.Json;
using FirstSip.Streams.Internal;
using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// The protocol v1 codec of <see cref="PluginResult"/> entries.
/// </summary>
/// <remarks>
/// Poison reasons: <c>missing payload</c>, <c>payload is not valid JSON</c>, <c>payload is not a JSON object</c>,
/// <c>unsupported schema_version &lt;v&gt;</c>, <c>plugin_run_id is required</c>, <c>unknown status &lt;value&gt;</c>.
/// The key is the run id text whenever it was readable.
/// </remarks>
public sealed class PluginResultCodec : IStreamEntryCodec<PluginResult>, IPayloadSizeBound<PluginResult>, IEntryFieldsDecoder<PluginResult>, IEnvelopeEncoder<PluginResult>
{
    // A year: longer delays are treated as none, rather than overflowing a schedule.
    private const long MaxRetryDelayMilliseconds = 366L * 24 * 3600 * 1000;

    // DateTimeOffset.MaxValue in unix milliseconds: a started_at beyond it is treated as absent.
    private const long MaxUnixMilliseconds = 253_402_300_799_999;

    /// <summary>Gets the shared instance.</summary>
    public static PluginResultCodec Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    public NameValueEntry[] Encode(PluginResult message) => Encode(message, 0, null);

    /// <inheritdoc/>
    NameValueEntry[] IEnvelopeEncoder<PluginResult>.Encode(PluginResult message, int reserve, PayloadArena? arena) => Encode(message, reserve, arena);

    private static NameValueEntry[] Encode(PluginResult message, int reserve, PayloadArena? arena)
    {
        ArgumentNullException.ThrowIfNull(message);
        var payload = WireJson.WritePayload(message, arena, static (writer, result) =>
        {
            writer.WriteString(WireJson.RunIdName, result.PluginRunId);
            writer.WriteString(WireJson.StatusName, result.Status == PluginResultStatus.Completed ? WireJson.Completed : WireJson.Failed);
            writer.WriteString(WireJson.OutputName, result.Output);
            writer.WriteString(WireJson.ErrorName, result.Error);
            writer.WriteBoolean(WireJson.RetryableName, result.Retryable);
            if (result.FailureKind is { } kind)
            {
                writer.WriteString(WireJson.KindName, KindText(kind));
            }

            if (result.RetryDelay is { } delay)
            {
                writer.WriteNumber(WireJson.RetryDelayName, (long)Math.Ceiling(delay.TotalMilliseconds));
            }
        });

        var count = 2 + (message.Attempt.HasValue ? 1 : 0) + (message.DurationMs.HasValue ? 1 : 0) + (message.Worker is null ? 0 : 1)
            + (message.LastStep is null ? 0 : 1) + (message.StartedAt.HasValue ? 1 : 0);
        var fields = new NameValueEntry[count + reserve];
        var i = 0;
        fields[i++] = new(WireFields.Payload, payload);
        fields[i++] = new(WireFields.SchemaVersion, WireFields.V1);
        if (message.Attempt is { } attempt)
        {
            fields[i++] = new(WireFields.Attempt, attempt);
        }

        if (message.DurationMs is { } duration)
        {
            fields[i++] = new(WireFields.DurationMs, duration);
        }

        if (message.Worker is { } worker)
        {
            fields[i++] = new(WireFields.Worker, worker);
        }

        if (message.LastStep is { } lastStep)
        {
            fields[i++] = new(WireFields.LastStep, lastStep);
        }

        if (message.StartedAt is { } startedAt)
        {
            fields[i] = new(WireFields.StartedAt, startedAt.ToUnixTimeMilliseconds());
        }

        return fields;
    }

    /// <inheritdoc/>
    long IPayloadSizeBound<PluginResult>.MaxPayloadBytes(PluginResult message)
        => JsonSizeBound.Fixed + JsonSizeBound.Of(message.Output) + JsonSizeBound.Of(message.Error);

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="fields"/> is null.</exception>
    public StreamDecodeResult<PluginResult> Decode(NameValueEntry[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        return Decode(new EntryFields(fields));
    }

    /// <inheritdoc/>
    StreamDecodeResult<PluginResult> IEntryFieldsDecoder<PluginResult>.Decode(in EntryFields fields) => Decode(fields);

    private static StreamDecodeResult<PluginResult> Decode(in EntryFields fields) => WireJson.DecodePluginMessage<PluginResult>(fields, Read);

    private static StreamDecodeResult<PluginResult> Read(in EntryFields fields, in PayloadObject payload, Guid runId)
    {
        PluginResultStatus status;
        var hasStatus = payload.TryGet("status"u8, out var statusValue) && statusValue.TokenType == JsonTokenType.String;
        if (hasStatus && statusValue.ValueTextEquals("completed"u8))
        {
            status = PluginResultStatus.Completed;
        }
        else if (hasStatus && statusValue.ValueTextEquals("failed"u8))
        {
            status = PluginResultStatus.Failed;
        }
        else
        {
            return StreamDecodeResult<PluginResult>.Poison("unknown status " + (payload.GetString("status"u8) ?? "(missing)"), WireJson.Key(runId));
        }

        var attempt = fields.GetInt64(WireJson.Attempt) ?? payload.GetInt64("attempt"u8);
        var retryDelay = payload.GetInt64("retry_delay_ms"u8);
        var result = new PluginResult
        {
            PluginRunId = runId,
            Status = status,
            Output = payload.GetString("output"u8),
            Error = payload.GetString("error"u8),
            Retryable = payload.IsTrue("retryable"u8),
            FailureKind = status == PluginResultStatus.Failed ? ParseKind(payload.GetString("kind"u8)) : null,
            RetryDelay = retryDelay is > 0 and <= MaxRetryDelayMilliseconds ? TimeSpan.FromMilliseconds(retryDelay.Value) : null,
            Attempt = attempt is >= 1 and <= int.MaxValue ? (int)attempt.Value : null,
            DurationMs = fields.GetInt64(WireJson.DurationMs) ?? payload.GetInt64("duration_ms"u8),
            Worker = fields.GetString(WireJson.Worker) ?? payload.GetString("worker"u8),
            LastStep = fields.GetString(WireJson.LastStep),
            StartedAt = fields.GetInt64(WireJson.StartedAt) is { } startedAt and >= 0 and <= MaxUnixMilliseconds
                ? DateTimeOffset.FromUnixTimeMilliseconds(startedAt)
                : null,
        };
        return StreamDecodeResult<PluginResult>.Success(result, runId);
    }

    private static string KindText(PluginFailureKind kind) => kind switch
    {
        PluginFailureKind.TimedOut => "timed_out",
        PluginFailureKind.NotStarted => "not_started",
        PluginFailureKind.Cancelled => "cancelled",
        _ => "failed",
    };

    private static PluginFailureKind? ParseKind(string? text) => text switch
    {
        "failed" => PluginFailureKind.Failed,
        "timed_out" => PluginFailureKind.TimedOut,
        "not_started" => PluginFailureKind.NotStarted,
        "cancelled" => PluginFailureKind.Cancelled,
        _ => null,
    };
}
