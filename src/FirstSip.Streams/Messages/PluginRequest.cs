using System.Text.Json;
using FirstSip.Streams.Internal;

namespace FirstSip.Streams;

/// <summary>
/// A request to run a plugin, as published on the request stream (<c>plugin:requests</c> by default).
/// </summary>
/// <remarks>
/// The wire format is protocol v1 (see <c>docs/protocol.md</c>): a JSON <c>payload</c> field holding
/// <c>plugin_run_id</c>, <c>plugin_name</c>, <c>user_id</c> and <c>settings</c>, and the optional
/// <c>attempt</c>, <c>deadline</c>, <c>queue_deadline</c>, <c>timeout_seconds</c> and <c>secrets</c> fields next to it.
/// </remarks>
public sealed record PluginRequest
{
    /// <summary>Gets the id of the plugin run this request starts.</summary>
    public required Guid PluginRunId { get; init; }

    /// <summary>Gets the name of the plugin in the worker's catalog.</summary>
    public required string PluginName { get; init; }

    /// <summary>Gets the id of the user the run is for.</summary>
    /// <remarks>
    /// Written as a JSON number when it is a canonical integer (optional '-', no leading zeros, fits in a
    /// <see cref="long"/>), as the original system did, and as a JSON string otherwise. Both forms read back into this string.
    /// </remarks>
    public required string UserId { get; init; }

    /// <summary>Gets the plugin settings, a JSON object.</summary>
    /// <value>An empty JSON object by default.</value>
    public JsonElement Settings { get; init; } = WireJson.EmptyObject;

    /// <summary>Gets the 1-based attempt number.</summary>
    /// <value>1 by default.</value>
    public int Attempt { get; init; } = 1;

    /// <summary>Gets the run's overall deadline, if any: a worker does not start the run after it, and stops an execution at it.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Gets the end of the run's queue timeout, if any: a worker that reads the request after it does not start the run.</summary>
    public DateTimeOffset? QueueDeadline { get; init; }

    /// <summary>Gets the execution timeout the worker applies from the moment it starts the run, in seconds, overriding the plugin's own, if any.</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>Gets the sealed secrets text (<c>v1.</c> + base64), opaque to this package, if any.</summary>
    public string? Secrets { get; init; }
}
