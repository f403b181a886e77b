namespace FirstSip.Streams;

/// <summary>
/// An entry a reader is about to move to its dead-letter stream, and why.
/// </summary>
public sealed class DeadLetteredEntry
{
    /// <summary>Gets the stream the entry was read from.</summary>
    public required string StreamName { get; init; }

    /// <summary>Gets the consumer group that gives up on the entry.</summary>
    public required string GroupName { get; init; }

    /// <summary>Gets the entry id in the original stream.</summary>
    public required string EntryId { get; init; }

    /// <summary>Gets why the entry is dead-lettered: the codec's poison reason, or <c>delivered n times, more than the maximum m</c>.</summary>
    public required string Reason { get; init; }

    /// <summary>Gets the entry's key when it was readable (for plugin messages, the run id text); otherwise <see langword="null"/>.</summary>
    public string? Key { get; init; }

    /// <summary>Gets how many times the entry was delivered.</summary>
    public long DeliveryCount { get; init; }
}
