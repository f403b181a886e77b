using System.ComponentModel.DataAnnotations;

namespace FirstSip.Streams;

/// <summary>
/// Options of one consumer-group reader (named options: the name is the reader's name).
/// </summary>
public class StreamReaderOptions
{
    /// <summary>Gets or sets the stream to read.</summary>
    /// <value>Set by the builder method that adds the reader; required.</value>
    [Required]
    public string StreamName { get; set; } = string.Empty;

    /// <summary>Gets or sets the consumer group; it is created (with MKSTREAM) when missing.</summary>
    /// <value>Set by the builder method that adds the reader; required.</value>
    [Required]
    public string GroupName { get; set; } = string.Empty;

    /// <summary>Gets or sets the consumer name within the group.</summary>
    /// <value>
    /// <see langword="null"/> by default: a name unique to the reader and the process, <c>{machine}-{pid}-{random}</c>.
    /// A dead process's entries are recovered by the other consumers' reclaim, never by its name.
    /// </value>
    public string? ConsumerName { get; set; }

    /// <summary>Gets or sets the most handlers that run at once.</summary>
    /// <value>16 by default.</value>
    [Range(1, 10_000)]
    public int Concurrency { get; set; } = 16;

    /// <summary>Gets or sets the most entries one read returns.</summary>
    /// <value>100 by default.</value>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>Gets or sets how the reader waits for new entries.</summary>
    /// <value><see cref="StreamReadMode.Blocking"/> by default.</value>
    public StreamReadMode ReadMode { get; set; } = StreamReadMode.Blocking;

    /// <summary>Gets or sets how long one blocking read waits for new entries.</summary>
    /// <value>1 second by default. At most half the connection's async timeout is used.</value>
    public TimeSpan BlockTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the pause between reads in <see cref="StreamReadMode.Polling"/> mode while the stream is idle.</summary>
    /// <value>50 milliseconds by default.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Gets or sets how long an entry stays pending and idle before another consumer may claim it.</summary>
    /// <value>60 seconds by default.</value>
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Gets or sets how often the reader claims entries idle longer than <see cref="ClaimTimeout"/>.</summary>
    /// <value>10 seconds by default.</value>
    public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how often the reader renews the entries it is still handling; must be less than <see cref="ClaimTimeout"/>.</summary>
    /// <value>20 seconds by default.</value>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Gets or sets the most deliveries of an entry; a later delivery dead-letters it.</summary>
    /// <value>5 by default.</value>
    [Range(1, int.MaxValue)]
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>
    /// Gets or sets whether a decodable entry delivered more than <see cref="MaxDeliveries"/> times is dead-lettered.
    /// </summary>
    /// <value><see langword="true"/> by default.</value>
    /// <remarks>
    /// With <see langword="false"/>, such an entry is handed to the handler again on every delivery and a warning is logged,
    /// so failures on the reading side (a database outage, a bug being fixed) never discard a message that could be handled.
    /// Poison entries (undecodable, too large) are dead-lettered either way.
    /// </remarks>
    public bool DeadLetterAfterMaxDeliveries { get; set; } = true;

    /// <summary>Gets or sets the dead-letter stream.</summary>
    /// <value><see langword="null"/> by default, meaning <c>&lt;stream&gt;:dead</c>.</value>
    public string? DeadLetterStream { get; set; }

    /// <summary>Gets or sets how long in-flight handlers may run after the reader is asked to stop, before they are cancelled.</summary>
    /// <value>10 seconds by default.</value>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets after how long without a loop iteration the health check reports the reader as stalled.</summary>
    /// <value>30 seconds by default.</value>
    public TimeSpan StalledAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the group lag (entries not yet delivered to the group) above which the health check reports degraded.</summary>
    /// <value>10,000 by default.</value>
    [Range(0, long.MaxValue)]
    public long LagThreshold { get; set; } = 10_000;
}
