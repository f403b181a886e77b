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
public sealed class PluginResultCodec : IStreamEntryCodec<PluginResult>, IPayloadSizeBound<PluginResult>
{
    /// <summary>Gets the shared instance.</summary>
    public static PluginResultCodec Instance { get; } = new();

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    public NameValueEntry[] Encode(PluginResult message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var payload = WireJson.WritePayload(message, static (writer, result) =>
        {
            writer.WriteString(WireJson.RunIdName, result.PluginRunId);
            writer.WriteString(WireJson.StatusName, result.Status == PluginResultStatus.Completed ? WireJson.Completed : WireJson.Failed);
            writer.WriteString(WireJson.OutputName, result.Output);
            writer.WriteString(WireJson.ErrorName, result.Error);
            writer.WriteBoolean(WireJson.RetryableName, result.Retryable);
        });

        var count = 2 + (message.Attempt.HasValue ? 1 : 0) + (message.DurationMs.HasValue ? 1 : 0) + (message.Worker is null ? 0 : 1);
        var fields = new NameValueEntry[count];
        var i = 0;
        fields[i++] = new(WireJson.Payload, payload);
        fields[i++] = new(WireJson.SchemaVersion, WireJson.V1);
        if (message.Attempt is { } attempt)
        {
            fields[i++] = new(WireJson.Attempt, WireJson.Format(attempt));
        }

        if (message.DurationMs is { } duration)
        {
            fields[i++] = new(WireJson.DurationMs, WireJson.Format(duration));
        }

        if (message.Worker is { } worker)
        {
            fields[i] = new(WireJson.Worker, worker);
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
        var error = WireJson.TryOpenPluginMessage(fields, out var document, out var runId, out var key);
        if (error is not null)
        {
            return StreamDecodeResult<PluginResult>.Poison(error, key);
        }

        using (document)
        {
            var root = document!.RootElement;
            PluginResultStatus status;
            var hasStatus = root.TryGetProperty("status", out var statusElement) && statusElement.ValueKind == JsonValueKind.String;
            if (hasStatus && statusElement.ValueEquals("completed"u8))
            {
                status = PluginResultStatus.Completed;
            }
            else if (hasStatus && statusElement.ValueEquals("failed"u8))
            {
                status = PluginResultStatus.Failed;
            }
            else
            {
                return StreamDecodeResult<PluginResult>.Poison("unknown status " + (WireJson.GetString(root, "status") ?? "(missing)"), WireJson.Key(runId));
            }

            var retryable = root.TryGetProperty("retryable", out var retryElement) && retryElement.ValueKind == JsonValueKind.True;
            var attempt = WireJson.ParseInt64(WireJson.Find(fields, WireJson.Attempt)) ?? WireJson.GetInt64(root, WireJson.Attempt);
            var duration = WireJson.ParseInt64(WireJson.Find(fields, WireJson.DurationMs)) ?? WireJson.GetInt64(root, WireJson.DurationMs);
            var worker = WireJson.ParseString(WireJson.Find(fields, WireJson.Worker)) ?? WireJson.GetString(root, WireJson.Worker);
            var result = new PluginResult
            {
                PluginRunId = runId,
                Status = status,
                Output = WireJson.GetString(root, "output"),
                Error = WireJson.GetString(root, "error"),
                Retryable = retryable,
                Attempt = attempt is >= 1 and <= int.MaxValue ? (int)attempt.Value : null,
                DurationMs = duration,
                Worker = worker,
            };
            return StreamDecodeResult<PluginResult>.Success(result, runId);
        }
    }
}
