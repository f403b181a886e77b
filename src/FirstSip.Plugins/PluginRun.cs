namespace FirstSip.Plugins;

/// <summary>
/// One execution of a plugin for a user, as stored in the application's database (an EF Core entity).
/// </summary>
/// <remarks>
/// Rows are changed only by the package's conditional transitions; treat instances you get from
/// <see cref="IPluginRunner"/> as snapshots. Secrets are stored here only sealed (<see cref="SealedSecrets"/>).
/// </remarks>
public sealed class PluginRun
{
    /// <summary>Gets or sets the run id (the <c>plugin_run_id</c> on the wire).</summary>
    public Guid RunId { get; set; }

    /// <summary>Gets or sets the plugin's name (its folder name in the catalog).</summary>
    public string PluginName { get; set; } = "";

    /// <summary>Gets or sets the id of the user the run is for.</summary>
    public string UserId { get; set; } = "";

    /// <summary>Gets or sets the run's state.</summary>
    public PluginRunStatus Status { get; set; }

    /// <summary>Gets or sets the input settings as JSON object text: the plugin's <c>default_config</c> merged under the caller's settings. Never holds secrets.</summary>
    public string Settings { get; set; } = "{}";

    /// <summary>Gets or sets the output of a completed run (JSON text), or <see langword="null"/>.</summary>
    public string? Output { get; set; }

    /// <summary>Gets or sets the error of a failed, timed-out or cancelled run (or the last retryable error of a run waiting for a retry).</summary>
    public string? Error { get; set; }

    /// <summary>Gets or sets the current attempt (1-based). It grows when a run is dispatched again.</summary>
    public int Attempt { get; set; } = 1;

    /// <summary>Gets or sets the number of attempts after which a retryable failure ends the run.</summary>
    public int MaxAttempts { get; set; } = 1;

    /// <summary>Gets or sets the optional idempotency key given at start.</summary>
    public string? IdempotencyKey { get; set; }

    /// <summary>Gets or sets when the run was created (UTC).</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Gets or sets when the current attempt was put on the request stream (UTC).</summary>
    public DateTimeOffset? DispatchedAt { get; set; }

    /// <summary>Gets or sets when a worker reported the start of the current attempt (UTC).</summary>
    public DateTimeOffset? StartedAt { get; set; }

    /// <summary>Gets or sets when the run reached a terminal state (UTC).</summary>
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>
    /// Gets or sets the app's backstop for the current execution (UTC): the time a worker reported its start plus the run's
    /// execution timeout plus <see cref="PluginRunStoreOptions.DeadlineGracePeriod"/>. Null until a worker starts the run.
    /// </summary>
    public DateTimeOffset? Deadline { get; set; }

    /// <summary>Gets or sets the run's queue timeout in seconds (schedule to start), or <see langword="null"/> for none: a run then waits its turn however long the queue is.</summary>
    public int? QueueTimeoutSeconds { get; set; }

    /// <summary>Gets or sets when the current attempt's queue timeout ends (UTC): a run not started by then ends <see cref="PluginRunStatus.TimedOut"/> and is never started. Null without a queue timeout.</summary>
    public DateTimeOffset? QueueDeadline { get; set; }

    /// <summary>Gets or sets the run's overall deadline (UTC), or <see langword="null"/> for none: a run not finished by then ends <see cref="PluginRunStatus.TimedOut"/>, and a worker stops its execution at that time.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>Gets or sets the id of the request stream entry of the current attempt, once it is published.</summary>
    public string? RequestId { get; set; }

    /// <summary>Gets or sets how many dispatches of the current attempt failed in a row (the secrets provider or the publish); reset by a successful one.</summary>
    public int DispatchFailures { get; set; }

    /// <summary>Gets or sets whether the workers still have to be told that the run is terminal (the app ended it: a cancel, a timeout, a failure at dispatch).</summary>
    public bool StopSignalPending { get; set; }

    /// <summary>Gets or sets the earliest time a pending run may be dispatched (retry backoff), or <see langword="null"/> for at once.</summary>
    public DateTimeOffset? NextAttemptAt { get; set; }

    /// <summary>Gets or sets the execution timeout in seconds the worker applies, and the basis of <see cref="Deadline"/>.</summary>
    public int TimeoutSeconds { get; set; }

    /// <summary>Gets or sets the last progress step a worker reported.</summary>
    public string? LastStep { get; set; }

    /// <summary>Gets or sets the W3C <c>traceparent</c> of the span that started the run, so dispatch and result continue its trace.</summary>
    public string? TraceParent { get; set; }

    /// <summary>
    /// Gets or sets the run's own secrets (<see cref="StartPluginRunRequest.Secrets"/> and credentials given as <c>_</c>
    /// settings), sealed with <see cref="PluginRunStoreOptions.SealKey"/> (AES-256-GCM, bound to the run id), or
    /// <see langword="null"/> when it has none. Never holds a secret in the clear.
    /// </summary>
    public string? SealedSecrets { get; set; }

    /// <summary>Gets or sets the concurrency version. Every status transition increments it and is conditional on it.</summary>
    public long Version { get; set; }

    /// <summary>
    /// A copy of the run (every property is a value or an immutable string) whose timestamps are cut to
    /// <paramref name="ticks"/>, as a database that keeps no finer ones reads them back.
    /// </summary>
    internal PluginRun CopyAsStored(long ticks)
    {
        var copy = (PluginRun)MemberwiseClone();
        if (ticks > 1)
        {
            copy.CreatedAt = Cut(CreatedAt, ticks);
            copy.DispatchedAt = Cut(DispatchedAt, ticks);
            copy.StartedAt = Cut(StartedAt, ticks);
            copy.CompletedAt = Cut(CompletedAt, ticks);
            copy.Deadline = Cut(Deadline, ticks);
            copy.QueueDeadline = Cut(QueueDeadline, ticks);
            copy.ExpiresAt = Cut(ExpiresAt, ticks);
            copy.NextAttemptAt = Cut(NextAttemptAt, ticks);
        }

        return copy;
    }

    private static DateTimeOffset Cut(DateTimeOffset value, long ticks) => value.AddTicks(-(value.Ticks % ticks));

    private static DateTimeOffset? Cut(DateTimeOffset? value, long ticks) => value is { } v ? Cut(v, ticks) : null;
}
