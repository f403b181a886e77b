namespace FirstSip.Streams;

/// <summary>
/// What an operator needs from the streams: their state (length, lag, pending entries per consumer, dead letters),
/// the live workers, the removal of stale consumers, and the dead letters themselves (list, inspect, replay, delete).
/// Registered by <c>AddPluginStreams</c> as a singleton.
/// </summary>
public interface IStreamOperations
{
    /// <summary>Reads the state of a stream: its length, each consumer group's lag and pending entries per consumer, and its dead-letter count.</summary>
    /// <param name="streamName">The stream.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The state; a stream that does not exist has length 0 and no groups.</returns>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> is null or empty.</exception>
    Task<StreamState> GetStreamStateAsync(string streamName, CancellationToken cancellationToken = default);

    /// <summary>Reads the state of the three plugin streams (requests, results, events), in that order.</summary>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The states.</returns>
    Task<IReadOnlyList<StreamState>> GetPluginStreamsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the live workers: those whose registry key (<c>{KeyPrefix}worker:{consumer}</c>, written by each sidecar with a
    /// short lifetime) exists. A worker that died disappears when its key expires.
    /// </summary>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The workers, by consumer name.</returns>
    Task<IReadOnlyList<PluginWorker>> ListWorkersAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the consumers of a group that hold no pending entries, have been idle at least <paramref name="idleTime"/>,
    /// and (for the workers' group) have no registry key. Each check and its deletion run as one script, so an entry
    /// delivered meanwhile is never lost with its consumer.
    /// </summary>
    /// <param name="streamName">The stream.</param>
    /// <param name="groupName">The consumer group.</param>
    /// <param name="idleTime">How long a consumer must have been idle.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The names of the consumers removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> or <paramref name="groupName"/> is null or empty.</exception>
    Task<IReadOnlyList<string>> RemoveStaleConsumersAsync(string streamName, string groupName, TimeSpan idleTime, CancellationToken cancellationToken = default);

    /// <summary>Lists the dead letters of a stream (the entries of <c>&lt;stream&gt;:dead</c>), newest first.</summary>
    /// <param name="streamName">The original stream (not its dead-letter stream).</param>
    /// <param name="count">The most entries to return (1 to 1000).</param>
    /// <param name="beforeId">Only entries older than this dead-letter id (for paging); <see langword="null"/> for the newest.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The dead letters.</returns>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is out of range.</exception>
    Task<IReadOnlyList<DeadLetter>> ListDeadLettersAsync(string streamName, int count = 50, string? beforeId = null, CancellationToken cancellationToken = default);

    /// <summary>Reads one dead letter with all its fields.</summary>
    /// <param name="streamName">The original stream.</param>
    /// <param name="entryId">The dead letter's id in <c>&lt;stream&gt;:dead</c>.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The dead letter, or <see langword="null"/> when there is none with that id.</returns>
    Task<DeadLetter?> GetDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Puts a dead letter back on its original stream as a new entry (its fields without the <c>dead_*</c> ones, plus
    /// <c>replayed_from</c>) and deletes it from the dead-letter stream, in one script: a letter is replayed once.
    /// </summary>
    /// <param name="streamName">The original stream.</param>
    /// <param name="entryId">The dead letter's id.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The new entry's id on the original stream, or <see langword="null"/> when there was no such dead letter.</returns>
    Task<string?> ReplayDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default);

    /// <summary>Deletes one dead letter.</summary>
    /// <param name="streamName">The original stream.</param>
    /// <param name="entryId">The dead letter's id.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>Whether it existed.</returns>
    Task<bool> DeleteDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default);

    /// <summary>Deletes every dead letter of a stream.</summary>
    /// <param name="streamName">The original stream.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>How many were deleted.</returns>
    Task<long> PurgeDeadLettersAsync(string streamName, CancellationToken cancellationToken = default);
}
