namespace FirstSip.Streams;

/// <summary>
/// The result of a plugin run, as published on the result stream (<c>plugin:results</c> by default).
/// </summary>
public sealed record PluginResult
{
    /// <summary>Gets the id of the plugin run this result answers.</summary>
    public required Guid PluginRunId { get; init; }

    /// <summary>Gets the outcome of the run.</summary>
    public required PluginResultStatus Status { get; init; }

    /// <summary>Gets the output of a completed run (JSON text), if any.</summary>
    public string? Output { get; init; }

    /// <summary>Gets the error of a failed run, if any.</summary>
    public string? Error { get; init; }

    /// <summary>Gets a value indicating whether the worker considers the failure worth retrying.</summary>
    public bool Retryable { get; init; }

    /// <summary>Gets why the run failed, when the worker said (<c>kind</c> in the payload); <see langword="null"/> for completed runs and for workers that do not say.</summary>
    public PluginFailureKind? FailureKind { get; init; }

    /// <summary>Gets the least delay the plugin asked for before a retry (<c>retry_delay_ms</c> in the payload), if any.</summary>
    public TimeSpan? RetryDelay { get; init; }

    /// <summary>Gets the attempt this result answers, if the worker reported it.</summary>
    public int? Attempt { get; init; }

    /// <summary>Gets the execution time in milliseconds, if the worker reported it.</summary>
    public long? DurationMs { get; init; }

    /// <summary>
    /// Gets the last step the execution reported, if any (<c>last_step</c>). Progress events travel on another stream and may
    /// be applied after the result; this makes the run's last step right at the moment it ends.
    /// </summary>
    public string? LastStep { get; init; }

    /// <summary>
    /// Gets when the execution began (<c>started_at</c>), if the worker said: a worker sends it instead of the run's
    /// <c>started</c> event for an execution that ended moments after it began.
    /// </summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>Gets the consumer name of the worker that ran the plugin, if reported.</summary>
    public string? Worker { get; init; }
}
