using System.ComponentModel.DataAnnotations;

namespace FirstSip.Streams;

/// <summary>Options of the hosted consumer sweeper, which removes stale consumers from the plugin streams' groups.</summary>
public class StreamOperationsOptions
{
    /// <summary>Gets or sets how often the sweeper removes stale consumers from the plugin streams' groups.</summary>
    /// <value>One minute by default; <see langword="null"/> turns the sweeper off.</value>
    public TimeSpan? ConsumerSweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Gets or sets how long a consumer must have been idle (and hold nothing, and, in the workers' group, have no
    /// registry key) before the sweeper removes it. Keep it well above the readers' block and poll times.
    /// </summary>
    /// <value>Five minutes by default.</value>
    [Range(typeof(TimeSpan), "00:00:00.100", "365.00:00:00")]
    public TimeSpan ConsumerIdleTime { get; set; } = TimeSpan.FromMinutes(5);
}
