namespace FirstSip.Plugins;

/// <summary>The queue of runs, as <see cref="IPluginRunner.GetQueueAsync"/> reads it.</summary>
public sealed record PluginQueueState
{
    /// <summary>Gets the number of runs written but not yet on the request stream (new, waiting for a retry, or while Redis is unreachable).</summary>
    public required int Pending { get; init; }

    /// <summary>Gets the number of runs on the request stream that no worker has started yet.</summary>
    public required int Waiting { get; init; }

    /// <summary>Gets the number of runs a worker reported as started.</summary>
    public required int Running { get; init; }

    /// <summary>Gets when the run that has waited longest for a worker was published, if any waits.</summary>
    public DateTimeOffset? OldestWaitingSince { get; init; }

    /// <summary>Gets how many waiting runs were published before the run asked about, when one was given and it waits.</summary>
    public int? Ahead { get; init; }

    /// <summary>Gets the request stream's backlog, or <see langword="null"/> when Redis could not be asked.</summary>
    public PluginStreamBacklog? Stream { get; init; }

    /// <summary>Gets why <see cref="Stream"/> is missing, if it is.</summary>
    public string? StreamError { get; init; }
}

/// <summary>The request stream as the workers' consumer group sees it.</summary>
public sealed record PluginStreamBacklog
{
    /// <summary>Gets the stream's name.</summary>
    public required string StreamName { get; init; }

    /// <summary>Gets the workers' consumer group.</summary>
    public required string GroupName { get; init; }

    /// <summary>Gets the number of entries in the stream (acknowledged ones stay until trimmed).</summary>
    public required long Length { get; init; }

    /// <summary>Gets the number of entries not yet delivered to any worker (the group's lag), or <see langword="null"/> when Redis cannot tell, or the group does not exist yet.</summary>
    public long? Undelivered { get; init; }

    /// <summary>Gets the number of entries delivered to a worker and not acknowledged yet (running, or held by a worker that died).</summary>
    public required long Delivered { get; init; }

    /// <summary>Gets the number of consumers in the workers' group (live or not).</summary>
    public required int Consumers { get; init; }
}
