using System.Text.Json.Nodes;
using FirstSip.Plugins;

namespace FirstSip.Samples.Briefings;

/// <summary>A plugin schedule as the sample hosts print and serve it (snake_case JSON), with its next occurrences in its own zone.</summary>
public sealed record ScheduleRecord
{
    /// <summary>Gets the schedule id.</summary>
    public required Guid ScheduleId { get; init; }

    /// <summary>Gets the plugin's name.</summary>
    public required string Plugin { get; init; }

    /// <summary>Gets the user the runs are for.</summary>
    public required string UserId { get; init; }

    /// <summary>Gets the cron expression.</summary>
    public required string Cron { get; init; }

    /// <summary>Gets the IANA time zone.</summary>
    public required string TimeZone { get; init; }

    /// <summary>Gets whether the schedule fires.</summary>
    public bool Enabled { get; init; }

    /// <summary>Gets why the schedule is paused.</summary>
    public string? PausedReason { get; init; }

    /// <summary>Gets the misfire policy (<c>skip</c>, <c>run_once</c>, <c>run_each</c>).</summary>
    public required string Misfire { get; init; }

    /// <summary>Gets the cap of missed runs of <c>run_each</c>.</summary>
    public int MaxMisfireRuns { get; init; }

    /// <summary>Gets the overlap policy (<c>skip</c>, <c>allow</c>, <c>cancel_previous</c>).</summary>
    public required string Overlap { get; init; }

    /// <summary>Gets the next fire time in the schedule's zone.</summary>
    public DateTimeOffset? NextFireAt { get; init; }

    /// <summary>Gets the next occurrences in the schedule's zone (empty while paused).</summary>
    public IReadOnlyList<DateTimeOffset> Upcoming { get; init; } = [];

    /// <summary>Gets the last occurrence that started a run, in the schedule's zone.</summary>
    public DateTimeOffset? LastFireAt { get; init; }

    /// <summary>Gets the last run the schedule started.</summary>
    public Guid? LastRunId { get; init; }

    /// <summary>Gets the settings each run starts with.</summary>
    public JsonNode? Settings { get; init; }

    /// <summary>Gets the row's version.</summary>
    public long Version { get; init; }

    /// <summary>Builds the record of a schedule.</summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="upcoming">How many next occurrences to list.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The record.</returns>
    public static ScheduleRecord From(PluginSchedule schedule, int upcoming, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var zone = TimeZoneInfo.FindSystemTimeZoneById(schedule.TimeZone);
        return new ScheduleRecord
        {
            ScheduleId = schedule.ScheduleId,
            Plugin = schedule.PluginName,
            UserId = schedule.UserId,
            Cron = schedule.CronExpression,
            TimeZone = schedule.TimeZone,
            Enabled = schedule.Enabled,
            PausedReason = schedule.PausedReason,
            Misfire = PolicyText(schedule.MisfirePolicy),
            MaxMisfireRuns = schedule.MaxMisfireRuns,
            Overlap = PolicyText(schedule.OverlapPolicy),
            NextFireAt = schedule.NextFireAt is { } next ? TimeZoneInfo.ConvertTime(next, zone) : null,
            Upcoming = schedule.Enabled && upcoming > 0
                ? PluginScheduleCron.GetOccurrences(schedule.CronExpression, schedule.TimeZone, now, upcoming)
                : [],
            LastFireAt = schedule.LastFireAt is { } last ? TimeZoneInfo.ConvertTime(last, zone) : null,
            LastRunId = schedule.LastRunId,
            Settings = JsonNode.Parse(schedule.Settings),
            Version = schedule.Version,
        };
    }

    /// <summary>The text of a misfire policy, as the hosts accept and print it.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns><c>skip</c>, <c>run_once</c> or <c>run_each</c>.</returns>
    public static string PolicyText(PluginScheduleMisfirePolicy policy) => policy switch
    {
        PluginScheduleMisfirePolicy.Skip => "skip",
        PluginScheduleMisfirePolicy.RunEach => "run_each",
        _ => "run_once",
    };

    /// <summary>The text of an overlap policy, as the hosts accept and print it.</summary>
    /// <param name="policy">The policy.</param>
    /// <returns><c>skip</c>, <c>allow</c> or <c>cancel_previous</c>.</returns>
    public static string PolicyText(PluginScheduleOverlapPolicy policy) => policy switch
    {
        PluginScheduleOverlapPolicy.Allow => "allow",
        PluginScheduleOverlapPolicy.CancelPrevious => "cancel_previous",
        _ => "skip",
    };

    /// <summary>Reads a misfire policy's text.</summary>
    /// <param name="text"><c>skip</c>, <c>run_once</c> or <c>run_each</c> (dashes work too).</param>
    /// <returns>The policy.</returns>
    /// <exception cref="FormatException">The text is none of them.</exception>
    public static PluginScheduleMisfirePolicy ParseMisfire(string text) => text.Trim().Replace('-', '_').ToLowerInvariant() switch
    {
        "skip" => PluginScheduleMisfirePolicy.Skip,
        "run_once" => PluginScheduleMisfirePolicy.RunOnce,
        "run_each" => PluginScheduleMisfirePolicy.RunEach,
        _ => throw new FormatException($"unknown misfire policy '{text}'; use skip, run_once or run_each"),
    };

    /// <summary>Reads an overlap policy's text.</summary>
    /// <param name="text"><c>skip</c>, <c>allow</c> or <c>cancel_previous</c> (dashes work too).</param>
    /// <returns>The policy.</returns>
    /// <exception cref="FormatException">The text is none of them.</exception>
    public static PluginScheduleOverlapPolicy ParseOverlap(string text) => text.Trim().Replace('-', '_').ToLowerInvariant() switch
    {
        "skip" => PluginScheduleOverlapPolicy.Skip,
        "allow" => PluginScheduleOverlapPolicy.Allow,
        "cancel_previous" => PluginScheduleOverlapPolicy.CancelPrevious,
        _ => throw new FormatException($"unknown overlap policy '{text}'; use skip, allow or cancel_previous"),
    };

    /// <summary>
    /// The cron expression for the original system's schedule settings, read from settings merged over the plugin's
    /// defaults: <c>frequency</c> (<c>daily</c> or <c>weekly</c>) and <c>preferred_time</c> (<c>HH:MM</c>).
    /// </summary>
    /// <param name="settings">The settings, with the plugin's defaults merged under them.</param>
    /// <param name="weeklyOn">The day of a weekly run.</param>
    /// <returns>The expression, or <see langword="null"/> when the settings carry no such fields.</returns>
    public static string? CronFromSettings(JsonObject settings, DayOfWeek weeklyOn = DayOfWeek.Monday)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return PluginScheduleCron.FromSettings(settings, weeklyOn);
    }
}
