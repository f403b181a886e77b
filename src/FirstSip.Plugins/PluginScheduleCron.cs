using System.Globalization;
using System.Text.Json.Nodes;
using Cronos;

namespace FirstSip.Plugins;

/// <summary>Cron expressions and time zones as schedules read them, and the mapping from the original system's schedule settings.</summary>
public static class PluginScheduleCron
{
    /// <summary>The most occurrences <see cref="GetOccurrences"/> returns.</summary>
    public const int MaxOccurrences = 1000;

    /// <summary>
    /// Turns the original system's schedule settings into a cron expression: <c>daily</c> at <c>HH:MM</c> is
    /// <c>MM HH * * *</c>; <c>weekly</c> at <c>HH:MM</c> is <c>MM HH * * D</c> on <paramref name="weeklyOn"/>.
    /// Evaluate it in the user's time zone.
    /// </summary>
    /// <param name="frequency"><c>daily</c> or <c>weekly</c> (case-insensitive).</param>
    /// <param name="preferredTime">A 24-hour local time, <c>HH:MM</c>.</param>
    /// <param name="weeklyOn">The day of a weekly run (the original settings carry none).</param>
    /// <returns>A five-field cron expression.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="InvalidPluginScheduleException">The frequency or the time is not one the original system used.</exception>
    public static string FromOriginalSettings(string frequency, string preferredTime, DayOfWeek weeklyOn = DayOfWeek.Monday)
    {
        ArgumentNullException.ThrowIfNull(frequency);
        ArgumentNullException.ThrowIfNull(preferredTime);
        if (preferredTime.Length != 5 || preferredTime[2] != ':'
            || !int.TryParse(preferredTime.AsSpan(0, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var hour)
            || !int.TryParse(preferredTime.AsSpan(3, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var minute)
            || hour > 23 || minute > 59)
        {
            throw new InvalidPluginScheduleException($"preferred_time must be HH:MM (24 h), not '{preferredTime}'");
        }

        return frequency.Trim().ToLowerInvariant() switch
        {
            "daily" => string.Create(CultureInfo.InvariantCulture, $"{minute} {hour} * * *"),
            "weekly" => string.Create(CultureInfo.InvariantCulture, $"{minute} {hour} * * {(int)weeklyOn}"),
            _ => throw new InvalidPluginScheduleException($"frequency must be daily or weekly, not '{frequency}'"),
        };
    }

    /// <summary>
    /// Reads the original system's schedule settings, <c>frequency</c> and <c>preferred_time</c>, from a plugin's settings
    /// (pass them with the plugin's defaults merged under them, as <see cref="IPluginCatalog.ValidateSettings"/> returns
    /// them) and turns them into a cron expression, as <see cref="FromOriginalSettings(string, string, DayOfWeek)"/> does.
    /// </summary>
    /// <param name="settings">The settings.</param>
    /// <param name="weeklyOn">The day of a weekly run.</param>
    /// <returns>A five-field cron expression, or <see langword="null"/> when the settings do not carry both fields as text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is null.</exception>
    /// <exception cref="InvalidPluginScheduleException">The frequency or the time is not one the original system used.</exception>
    public static string? FromSettings(JsonObject settings, DayOfWeek weeklyOn = DayOfWeek.Monday)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings["frequency"] is JsonValue frequencyValue && frequencyValue.TryGetValue<string>(out var frequency)
            && settings["preferred_time"] is JsonValue timeValue && timeValue.TryGetValue<string>(out var time)
            ? FromOriginalSettings(frequency, time, weeklyOn)
            : null;
    }

    /// <summary>Checks a cron expression and a time zone as a schedule would.</summary>
    /// <param name="cronExpression">Five fields, or six with seconds first (or a macro such as <c>@daily</c>).</param>
    /// <param name="timeZone">An IANA time zone id (a Windows id is accepted).</param>
    /// <returns>The IANA id of the zone, as a schedule stores it.</returns>
    /// <exception cref="InvalidPluginScheduleException">The expression or the zone is not usable.</exception>
    public static string Validate(string cronExpression, string timeZone)
    {
        Parse(cronExpression);
        return FindZone(timeZone).Id;
    }

    /// <summary>Computes the next occurrences of an expression after a moment, in a time zone (daylight-saving gaps and repeats as Cronos defines them).</summary>
    /// <param name="cronExpression">The expression.</param>
    /// <param name="timeZone">The IANA time zone id.</param>
    /// <param name="after">The moment; occurrences strictly after it are returned.</param>
    /// <param name="count">How many (1 to <see cref="MaxOccurrences"/>).</param>
    /// <returns>The occurrences, each with the zone's offset at that instant; fewer when the expression ends.</returns>
    /// <exception cref="InvalidPluginScheduleException">The expression or the zone is not usable.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is out of range.</exception>
    public static IReadOnlyList<DateTimeOffset> GetOccurrences(string cronExpression, string timeZone, DateTimeOffset after, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxOccurrences);
        var expression = Parse(cronExpression);
        var zone = FindZone(timeZone);
        var result = new List<DateTimeOffset>(count);
        var from = after;
        while (result.Count < count && expression.GetNextOccurrence(from, zone) is { } next)
        {
            result.Add(next);
            from = next;
        }

        return result;
    }

    /// <summary>Parses five fields (minute first) or six (seconds first), or a macro.</summary>
    internal static CronExpression Parse(string cronExpression)
    {
        if (string.IsNullOrWhiteSpace(cronExpression))
        {
            throw new InvalidPluginScheduleException("the cron expression is empty");
        }

        var text = cronExpression.Trim();
        var fields = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var format = fields switch
        {
            6 => CronFormat.IncludeSeconds,
            5 => CronFormat.Standard,
            1 when text.StartsWith('@') => CronFormat.Standard,
            _ => throw new InvalidPluginScheduleException(
                $"'{text}' has {fields} fields; a cron expression has five (minute hour day-of-month month day-of-week) or six (seconds first)"),
        };
        try
        {
            return CronExpression.Parse(text, format);
        }
        catch (CronFormatException ex)
        {
            throw new InvalidPluginScheduleException($"'{text}' is not a valid cron expression: {ex.Message}");
        }
    }

    /// <summary>Finds a zone by IANA id (or Windows id, mapped to its IANA id).</summary>
    internal static TimeZoneInfo FindZone(string timeZone)
    {
        if (string.IsNullOrWhiteSpace(timeZone))
        {
            throw new InvalidPluginScheduleException("the time zone is empty");
        }

        var id = timeZone.Trim();
        if (TimeZoneInfo.TryConvertWindowsIdToIanaId(id, out var ianaId))
        {
            id = ianaId;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new InvalidPluginScheduleException($"unknown time zone '{timeZone}' (use an IANA id such as America/New_York)");
        }
    }
}
