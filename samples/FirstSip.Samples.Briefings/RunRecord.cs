using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FirstSip.Plugins;

namespace FirstSip.Samples.Briefings;

/// <summary>A plugin run as the sample hosts print and serve it (snake_case JSON).</summary>
public sealed record RunRecord
{
    /// <summary>The JSON options every sample output uses.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Gets the run id.</summary>
    public required Guid RunId { get; init; }

    /// <summary>Gets the plugin's name.</summary>
    public required string Plugin { get; init; }

    /// <summary>Gets the user the run is for.</summary>
    public required string UserId { get; init; }

    /// <summary>Gets the status as on the wire (<c>pending</c> … <c>timed_out</c>).</summary>
    public required string Status { get; init; }

    /// <summary>Gets the attempt number.</summary>
    public int Attempt { get; init; }

    /// <summary>Gets the maximum number of attempts.</summary>
    public int MaxAttempts { get; init; }

    /// <summary>Gets the last progress step reported by the worker.</summary>
    public string? LastStep { get; init; }

    /// <summary>Gets the error of a run that did not complete.</summary>
    public string? Error { get; init; }

    /// <summary>Gets the settings the run was started with.</summary>
    public JsonNode? Settings { get; init; }

    /// <summary>Gets the output of a completed run.</summary>
    public JsonNode? Output { get; init; }

    /// <summary>Gets when the run was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Gets when the run was published to the workers.</summary>
    public DateTimeOffset? DispatchedAt { get; init; }

    /// <summary>Gets when a worker started the run.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>Gets when the run ended.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Gets the time after which the run is timed out.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Creates the record of a run.</summary>
    /// <param name="run">The run.</param>
    /// <returns>The record.</returns>
    public static RunRecord From(PluginRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new RunRecord
        {
            RunId = run.RunId,
            Plugin = run.PluginName,
            UserId = run.UserId,
            Status = run.Status.ToWireString(),
            Attempt = run.Attempt,
            MaxAttempts = run.MaxAttempts,
            LastStep = run.LastStep,
            Error = run.Error,
            Settings = ParseJson(run.Settings),
            Output = ParseJson(run.Output),
            CreatedAt = run.CreatedAt,
            DispatchedAt = run.DispatchedAt,
            StartedAt = run.StartedAt,
            CompletedAt = run.CompletedAt,
            Deadline = run.Deadline,
        };
    }

    private static JsonNode? ParseJson(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }
}
