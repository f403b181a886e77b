namespace FirstSip.Streams;

/// <summary>A stream as <see cref="IStreamOperations.GetStreamStateAsync"/> reads it.</summary>
public sealed record StreamState
{
    /// <summary>Gets the stream's name.</summary>
    public required string StreamName { get; init; }

    /// <summary>Gets the number of entries in the stream (acknowledged ones stay until trimmed).</summary>
    public required long Length { get; init; }

    /// <summary>Gets the id of the newest entry, or <see langword="null"/> when the stream is empty.</summary>
    public string? LastEntryId { get; init; }

    /// <summary>Gets the consumer groups of the stream.</summary>
    public required IReadOnlyList<StreamGroupState> Groups { get; init; }

    /// <summary>Gets the number of entries in the stream's dead-letter stream (<c>&lt;stream&gt;:dead</c>).</summary>
    public required long DeadLetters { get; init; }
}

/// <summary>One consumer group of a stream.</summary>
public sealed record StreamGroupState
{
    /// <summary>Gets the group's name.</summary>
    public required string GroupName { get; init; }

    /// <summary>Gets the number of entries not yet delivered to the group, or <see langword="null"/> when Redis cannot tell.</summary>
    public long? Lag { get; init; }

    /// <summary>Gets the number of entries delivered and not acknowledged.</summary>
    public required long Pending { get; init; }

    /// <summary>Gets the id of the oldest pending entry, if any.</summary>
    public string? OldestPendingId { get; init; }

    /// <summary>Gets how long ago the oldest pending entry was added to the stream, if any is pending.</summary>
    public TimeSpan? OldestPendingAge { get; init; }

    /// <summary>Gets the last entry delivered to the group.</summary>
    public string? LastDeliveredId { get; init; }

    /// <summary>Gets the group's consumers.</summary>
    public required IReadOnlyList<StreamConsumerState> Consumers { get; init; }
}

/// <summary>One consumer of a group.</summary>
public sealed record StreamConsumerState
{
    /// <summary>Gets the consumer's name.</summary>
    public required string ConsumerName { get; init; }

    /// <summary>Gets the number of entries it holds pending.</summary>
    public required long Pending { get; init; }

    /// <summary>Gets how long since it last read or claimed.</summary>
    public required TimeSpan Idle { get; init; }
}

/// <summary>A live worker, from its registry key (docs/protocol.md, "Worker registry").</summary>
public sealed record PluginWorker
{
    /// <summary>Gets the worker's consumer name.</summary>
    public required string ConsumerName { get; init; }

    /// <summary>Gets the host it runs on.</summary>
    public string? Host { get; init; }

    /// <summary>Gets its process id.</summary>
    public long? ProcessId { get; init; }

    /// <summary>Gets its version.</summary>
    public string? Version { get; init; }

    /// <summary>Gets the request stream it reads.</summary>
    public string? StreamName { get; init; }

    /// <summary>Gets the consumer group it reads in.</summary>
    public string? GroupName { get; init; }

    /// <summary>Gets the plugins it serves.</summary>
    public required IReadOnlyList<string> Plugins { get; init; }

    /// <summary>Gets how many runs it executes at once.</summary>
    public int Slots { get; init; }

    /// <summary>Gets the runs it executes now.</summary>
    public required IReadOnlyList<PluginWorkerRun> InFlight { get; init; }

    /// <summary>Gets when it started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>Gets when it last wrote its registry key.</summary>
    public DateTimeOffset? SeenAt { get; init; }
}

/// <summary>A run a worker executes now.</summary>
public sealed record PluginWorkerRun
{
    /// <summary>Gets the run id text.</summary>
    public required string RunId { get; init; }

    /// <summary>Gets the plugin's name.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the attempt.</summary>
    public int? Attempt { get; init; }

    /// <summary>Gets when the execution started.</summary>
    public DateTimeOffset? StartedAt { get; init; }
}

/// <summary>An entry of a dead-letter stream (<c>&lt;stream&gt;:dead</c>).</summary>
public sealed record DeadLetter
{
    /// <summary>Gets the original stream.</summary>
    public required string StreamName { get; init; }

    /// <summary>Gets the dead letter's id in the dead-letter stream.</summary>
    public required string EntryId { get; init; }

    /// <summary>Gets why the entry was dead-lettered (<c>dead_reason</c>).</summary>
    public string? Reason { get; init; }

    /// <summary>Gets the entry's id in the original stream (<c>dead_original_id</c>).</summary>
    public string? OriginalId { get; init; }

    /// <summary>Gets the consumer group that gave up on it (<c>dead_group</c>).</summary>
    public string? GroupName { get; init; }

    /// <summary>Gets the consumer that dead-lettered it (<c>dead_consumer</c>).</summary>
    public string? ConsumerName { get; init; }

    /// <summary>Gets when it was dead-lettered (<c>dead_at</c>, or the id's time).</summary>
    public DateTimeOffset? DeadAt { get; init; }

    /// <summary>Gets the run id of a plugin message whose payload holds a readable <c>plugin_run_id</c>; otherwise <see langword="null"/>.</summary>
    public Guid? RunId { get; init; }

    /// <summary>Gets every field of the entry as stored, in order, <c>dead_*</c> ones included.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Fields { get; init; }
}
