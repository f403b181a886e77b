using System.Text.Json.Nodes;

namespace FirstSip.Plugins;

/// <summary>What <see cref="IPluginScheduler.CreateAsync"/> creates.</summary>
public sealed class CreatePluginScheduleRequest
{
    /// <summary>Gets the plugin's name in the catalog.</summary>
    public required string PluginName { get; init; }

    /// <summary>Gets the id of the user the runs are for.</summary>
    public required string UserId { get; init; }

    /// <summary>Gets the settings each run starts with; validated against the plugin's schema now, and again at each run.</summary>
    /// <value>Default: <see langword="null"/> (only the plugin's defaults).</value>
    public JsonObject? Settings { get; init; }

    /// <summary>Gets the cron expression: five fields (minute hour day-of-month month day-of-week) or six (seconds first).</summary>
    public required string CronExpression { get; init; }

    /// <summary>Gets the IANA time zone the expression is evaluated in (a Windows zone id is converted to its IANA id).</summary>
    /// <value>Default: <c>UTC</c>.</value>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>Gets what to do with missed occurrences.</summary>
    /// <value>Default: <see cref="PluginScheduleMisfirePolicy.RunOnce"/>.</value>
    public PluginScheduleMisfirePolicy MisfirePolicy { get; init; } = PluginScheduleMisfirePolicy.RunOnce;

    /// <summary>Gets the most missed occurrences <see cref="PluginScheduleMisfirePolicy.RunEach"/> fires (1 to 1000).</summary>
    /// <value>Default: 10.</value>
    public int MaxMisfireRuns { get; init; } = 10;

    /// <summary>Gets what to do when an occurrence is due while the previous run has not ended.</summary>
    /// <value>Default: <see cref="PluginScheduleOverlapPolicy.Skip"/>.</value>
    public PluginScheduleOverlapPolicy OverlapPolicy { get; init; } = PluginScheduleOverlapPolicy.Skip;

    /// <summary>Gets whether the schedule starts enabled.</summary>
    /// <value>Default: <see langword="true"/>.</value>
    public bool Enabled { get; init; } = true;
}

/// <summary>What <see cref="IPluginScheduler.UpdateAsync"/> changes; a property left <see langword="null"/> keeps its value.</summary>
public sealed class UpdatePluginScheduleRequest
{
    /// <summary>Gets the new settings (replacing the old ones), or <see langword="null"/> to keep them.</summary>
    public JsonObject? Settings { get; init; }

    /// <summary>Gets the new cron expression, or <see langword="null"/> to keep it.</summary>
    public string? CronExpression { get; init; }

    /// <summary>Gets the new time zone, or <see langword="null"/> to keep it.</summary>
    public string? TimeZone { get; init; }

    /// <summary>Gets the new misfire policy, or <see langword="null"/> to keep it.</summary>
    public PluginScheduleMisfirePolicy? MisfirePolicy { get; init; }

    /// <summary>Gets the new cap of missed runs, or <see langword="null"/> to keep it.</summary>
    public int? MaxMisfireRuns { get; init; }

    /// <summary>Gets the new overlap policy, or <see langword="null"/> to keep it.</summary>
    public PluginScheduleOverlapPolicy? OverlapPolicy { get; init; }

    /// <summary>Gets the version the caller read; when set and the row changed since, the update throws <see cref="PluginScheduleConflictException"/>.</summary>
    /// <value>Default: <see langword="null"/> (the update applies to the current row).</value>
    public long? ExpectedVersion { get; init; }
}

/// <summary>Filters and paging for <see cref="IPluginScheduler.ListAsync"/>. Every filter is optional.</summary>
public sealed class PluginScheduleQuery
{
    /// <summary>Gets the user id to match.</summary>
    public string? UserId { get; init; }

    /// <summary>Gets the plugin name to match.</summary>
    public string? PluginName { get; init; }

    /// <summary>Gets the number of matching schedules to skip.</summary>
    /// <value>Default: 0.</value>
    public int Skip { get; init; }

    /// <summary>Gets the page size (1 to 1000).</summary>
    /// <value>Default: 100.</value>
    public int Take { get; init; } = 100;
}
