namespace FirstSip.Plugins;

/// <summary>Filters, text search and paging for <see cref="IPluginOperations.SearchRunsAsync"/>. Every filter is optional.</summary>
public sealed class PluginRunSearch
{
    /// <summary>Gets the plugin name to match exactly.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the user id to match exactly.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the statuses to match (any of them).</summary>
    public IReadOnlyCollection<PluginRunStatus>? Statuses { get; init; }

    /// <summary>Gets text that the plugin name, the user id or the error must contain (case-insensitive), or the run id.</summary>
    public string? Text { get; init; }

    /// <summary>Gets the earliest creation time (inclusive).</summary>
    public DateTimeOffset? CreatedFrom { get; init; }

    /// <summary>Gets the latest creation time (exclusive).</summary>
    public DateTimeOffset? CreatedBefore { get; init; }

    /// <summary>Gets the number of matching runs to skip.</summary>
    /// <value>Default: 0.</value>
    public int Skip { get; init; }

    /// <summary>Gets the page size (1 to 1000).</summary>
    /// <value>Default: 50.</value>
    public int Take { get; init; } = 50;
}

/// <summary>What kind of moment a <see cref="PluginRunTimelineEntry"/> records.</summary>
public enum PluginRunTimelineKind
{
    /// <summary>The run was written.</summary>
    Created,

    /// <summary>The current attempt was put on the request stream.</summary>
    Dispatched,

    /// <summary>A worker reported the start of an attempt (from the run's column, or its <c>started</c> event).</summary>
    Started,

    /// <summary>A worker reported a finished step.</summary>
    Step,

    /// <summary>A worker reported that an attempt still runs.</summary>
    Heartbeat,

    /// <summary>The run ended (completed, failed, timed out or cancelled).</summary>
    Ended,
}

/// <summary>One moment of a run's timeline.</summary>
public sealed record PluginRunTimelineEntry
{
    /// <summary>Gets when it happened.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>Gets what happened.</summary>
    public required PluginRunTimelineKind Kind { get; init; }

    /// <summary>Gets the attempt it belongs to, when known.</summary>
    public int? Attempt { get; init; }

    /// <summary>Gets the step's name, for a step.</summary>
    public string? Step { get; init; }

    /// <summary>Gets the worker's message, or the run's error when it ended unsuccessfully.</summary>
    public string? Message { get; init; }

    /// <summary>Gets the worker's consumer name, for a worker's event.</summary>
    public string? Worker { get; init; }

    /// <summary>Gets the status the run reached, for <see cref="PluginRunTimelineKind.Ended"/>.</summary>
    public PluginRunStatus? Status { get; init; }

    /// <summary>Gets the time since the entry before it.</summary>
    public TimeSpan? SincePrevious { get; init; }
}

/// <summary>A run and its timeline, as <see cref="IPluginOperations.GetTimelineAsync"/> reads them.</summary>
public sealed record PluginRunTimeline
{
    /// <summary>Gets the run.</summary>
    public required PluginRun Run { get; init; }

    /// <summary>Gets the entries, in time order.</summary>
    public required IReadOnlyList<PluginRunTimelineEntry> Entries { get; init; }

    /// <summary>Gets how long the current attempt waited for a worker (dispatch to start), when both are known.</summary>
    public TimeSpan? QueueTime { get; init; }

    /// <summary>Gets how long the current attempt executed (start to end, or to now while it runs), when known.</summary>
    public TimeSpan? ExecutionTime { get; init; }

    /// <summary>Gets how long the run took from creation to its end (or to now while it has not ended).</summary>
    public required TimeSpan TotalTime { get; init; }
}

/// <summary>Runs that ended unsuccessfully for alike reasons.</summary>
public sealed record PluginFailureReason
{
    /// <summary>Gets the reason: the error's first line with digits and ids folded.</summary>
    public required string Reason { get; init; }

    /// <summary>Gets how many runs ended for it.</summary>
    public required int Count { get; init; }

    /// <summary>Gets how many of them timed out (the rest failed).</summary>
    public required int TimedOut { get; init; }

    /// <summary>Gets the plugins concerned.</summary>
    public required IReadOnlyList<string> Plugins { get; init; }

    /// <summary>Gets one full error text of the group.</summary>
    public required string Example { get; init; }

    /// <summary>Gets the newest run of the group.</summary>
    public required Guid LatestRunId { get; init; }

    /// <summary>Gets when the newest run of the group ended.</summary>
    public required DateTimeOffset LatestAt { get; init; }
}

/// <summary>The runs that ended within one interval.</summary>
public sealed record PluginRunActivityBucket
{
    /// <summary>Gets the start of the interval.</summary>
    public required DateTimeOffset Start { get; init; }

    /// <summary>Gets the runs that completed.</summary>
    public required int Completed { get; init; }

    /// <summary>Gets the runs that failed.</summary>
    public required int Failed { get; init; }

    /// <summary>Gets the runs that timed out.</summary>
    public required int TimedOut { get; init; }

    /// <summary>Gets the runs that were cancelled.</summary>
    public required int Cancelled { get; init; }
}

/// <summary>The outcome of a run action (<see cref="IPluginOperations.RetryAsync"/>, <see cref="IPluginOperations.CancelAsync"/>).</summary>
public enum PluginRunActionOutcome
{
    /// <summary>The action was applied.</summary>
    Done,

    /// <summary>There is no such run.</summary>
    NotFound,

    /// <summary>The run's state does not allow the action (for a retry: it has not failed or timed out; for a cancel: it has ended).</summary>
    NotAllowed,

    /// <summary>The run changed meanwhile, or still owes the workers its stop signal; try again shortly.</summary>
    Conflict,
}

/// <summary>The result of a run action.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Run">The run after the action, when it exists.</param>
public sealed record PluginRunActionResult(PluginRunActionOutcome Outcome, PluginRun? Run);

/// <summary>How a dead letter was replayed.</summary>
public enum DeadLetterReplayOutcome
{
    /// <summary>There is no such dead letter.</summary>
    NotFound,

    /// <summary>The letter was put back on its stream as a new entry.</summary>
    Replayed,

    /// <summary>The letter's run was retried as its next attempt, and the letter deleted.</summary>
    RunRetried,

    /// <summary>The letter's run exists but cannot be retried now (it has not failed or timed out, or it changed meanwhile); the letter stays.</summary>
    RunNotRetryable,
}

/// <summary>The result of <see cref="IPluginOperations.ReplayDeadLetterAsync"/>.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="EntryId">The new entry's id on the original stream, for <see cref="DeadLetterReplayOutcome.Replayed"/>.</param>
/// <param name="Run">The retried run, for <see cref="DeadLetterReplayOutcome.RunRetried"/>.</param>
public sealed record DeadLetterReplayResult(DeadLetterReplayOutcome Outcome, string? EntryId, PluginRun? Run);
