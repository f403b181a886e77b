using System.ComponentModel.DataAnnotations;

namespace FirstSip.Plugins;

/// <summary>Options of the hosted scheduler that fires due <see cref="PluginSchedule"/>s (set with <c>ConfigureScheduler</c>).</summary>
public class PluginSchedulerOptions
{
    /// <summary>
    /// Gets or sets whether this process runs the hosted scheduler. Every replica may run it: each occurrence fires once
    /// whichever replica claims it. Turn it off in processes that should only serve the API.
    /// </summary>
    /// <value>Default: <see langword="true"/>.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets how often the scheduler looks for due schedules. An occurrence fires at most this late, plus the time to start its run.</summary>
    /// <value>Default: 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the most due schedules read in one query; a full batch is followed at once by the next one.</summary>
    /// <value>Default: 100.</value>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Gets or sets how late an occurrence may fire and still count as on time. An occurrence found later than this (the
    /// application was down, or no scheduler ran) is missed, and the schedule's <see cref="PluginScheduleMisfirePolicy"/> decides.
    /// </summary>
    /// <value>Default: 1 minute.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan MisfireThreshold { get; set; } = TimeSpan.FromMinutes(1);
}
