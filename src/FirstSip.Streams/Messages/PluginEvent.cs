namespace FirstSip.Streams;

/// <summary>
/// A progress event of a plugin run, as published on the event stream (<c>plugin:events</c> by default).
/// </summary>
public sealed record PluginEvent
{
    /// <summary>Gets the id of the plugin run.</summary>
    public required Guid PluginRunId { get; init; }

    /// <summary>Gets the kind of event.</summary>
    public required PluginEventKind Kind { get; init; }

    /// <summary>Gets the name of the finished step, for <see cref="PluginEventKind.Step"/> events.</summary>
    public string? Step { get; init; }

    /// <summary>Gets a human-readable message, if any.</summary>
    public string? Message { get; init; }

    /// <summary>Gets the time the event happened (unix milliseconds on the wire).</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>Gets the attempt the event belongs to, if reported.</summary>
    public int? Attempt { get; init; }

    /// <summary>Gets the consumer name of the worker, if reported.</summary>
    public string? Worker { get; init; }
}
