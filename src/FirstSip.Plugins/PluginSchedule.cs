namespace FirstSip.Plugins;

/// <summary>
/// A user's recurring schedule of one plugin, as stored in the application's database (an EF Core entity): a cron
/// expression evaluated in an IANA time zone, the settings each run gets, and what to do with missed and overlapping runs.
/// </summary>
/// <remarks>
/// Rows are changed only through <see cref="IPluginScheduler"/> and the hosted scheduler, by conditional updates on
/// <see cref="Version"/>; treat instances you get from <see cref="IPluginScheduler"/> as snapshots.
/// </remarks>
public sealed class PluginSchedule
{
    /// <summary>Gets or sets the schedule's id.</summary>
    public Guid ScheduleId { get; set; }

    /// <summary>Gets or sets the id of the user the runs are for.</summary>
    public string UserId { get; set; } = "";

    /// <summary>Gets or sets the plugin's name (its folder name in the catalog).</summary>
    public string PluginName { get; set; } = "";

    /// <summary>Gets or sets the settings each run starts with, as JSON object text (the plugin's <c>default_config</c> is merged under them at each run). Never holds secrets.</summary>
    public string Settings { get; set; } = "{}";

    /// <summary>Gets or sets the cron expression: five fields (minute hour day-of-month month day-of-week) or six (seconds first), as Cronos reads them.</summary>
    public string CronExpression { get; set; } = "";

    /// <summary>Gets or sets the IANA time zone the expression is evaluated in, for example <c>America/New_York</c>.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Gets or sets whether the schedule fires; <see langword="false"/> while it is paused.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets why the schedule is paused (given by the caller, or by the scheduler when the plugin disappeared or the settings stopped being valid), or <see langword="null"/>.</summary>
    public string? PausedReason { get; set; }

    /// <summary>Gets or sets what the scheduler does with occurrences it missed (the application was down, or the schedule was due while no scheduler ran).</summary>
    public PluginScheduleMisfirePolicy MisfirePolicy { get; set; } = PluginScheduleMisfirePolicy.RunOnce;

    /// <summary>Gets or sets the most missed occurrences <see cref="PluginScheduleMisfirePolicy.RunEach"/> fires (the latest ones); older ones are skipped.</summary>
    public int MaxMisfireRuns { get; set; } = 10;

    /// <summary>Gets or sets what the scheduler does when an occurrence is due while the schedule's previous run has not ended.</summary>
    public PluginScheduleOverlapPolicy OverlapPolicy { get; set; } = PluginScheduleOverlapPolicy.Skip;

    /// <summary>Gets or sets the next occurrence to fire (UTC); <see langword="null"/> while the schedule is paused or has no further occurrence.</summary>
    public DateTimeOffset? NextFireAt { get; set; }

    /// <summary>Gets or sets the last occurrence that started a run (UTC), or the time of the last manual trigger.</summary>
    public DateTimeOffset? LastFireAt { get; set; }

    /// <summary>Gets or sets the id of the last run the schedule started, or <see langword="null"/>.</summary>
    public Guid? LastRunId { get; set; }

    /// <summary>Gets or sets when the schedule was created (UTC).</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Gets or sets when the schedule was last changed by a caller (UTC).</summary>
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>Gets or sets the row's version, raised by every change; changes are conditional on it.</summary>
    public long Version { get; set; }
}

/// <summary>What the scheduler does with occurrences it missed by more than <see cref="PluginSchedulerOptions.MisfireThreshold"/>.</summary>
public enum PluginScheduleMisfirePolicy
{
    /// <summary>Missed occurrences are skipped: the schedule goes on with the next one.</summary>
    Skip,

    /// <summary>Missed occurrences start one run together (for the latest of them), unless an occurrence is due on time in the same tick, which stands for them.</summary>
    RunOnce,

    /// <summary>Every missed occurrence starts a run, up to <see cref="PluginSchedule.MaxMisfireRuns"/> (the latest ones); older ones are skipped.</summary>
    RunEach,
}

/// <summary>What the scheduler does when an occurrence is due while the schedule's previous run is not terminal.</summary>
public enum PluginScheduleOverlapPolicy
{
    /// <summary>The occurrence is skipped; the previous run goes on.</summary>
    Skip,

    /// <summary>The occurrence starts a run beside the previous one.</summary>
    Allow,

    /// <summary>The previous run is cancelled and the occurrence starts a run.</summary>
    CancelPrevious,
}
