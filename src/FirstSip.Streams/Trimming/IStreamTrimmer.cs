namespace FirstSip.Streams;

/// <summary>
/// Trims streams safely: removes only entries that every consumer group has acknowledged.
/// </summary>
public interface IStreamTrimmer
{
    /// <summary>
    /// Removes the entries every group of the stream has acknowledged, with <c>XTRIM MINID</c> below the oldest
    /// entry any group still needs (its oldest pending entry, or for a group with nothing pending the first entry
    /// after its last-delivered id). A stream without groups is left alone.
    /// </summary>
    /// <param name="streamName">The stream.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The number of entries removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> is null or empty.</exception>
    Task<long> TrimAcknowledgedAsync(string streamName, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the entries older than <paramref name="age"/> (by their id's time) with <c>XTRIM MINID</c>, whether or
    /// not a group acknowledged them. Meant for streams nobody consumes, such as dead-letter streams, kept for a retention period.
    /// </summary>
    /// <param name="streamName">The stream.</param>
    /// <param name="age">How old an entry may get before it is removed.</param>
    /// <param name="cancellationToken">A token that cancels waiting for Redis.</param>
    /// <returns>The number of entries removed.</returns>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="age"/> is negative.</exception>
    Task<long> TrimOlderThanAsync(string streamName, TimeSpan age, CancellationToken cancellationToken = default);
}
