using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal;

/// <summary>The scheduler's log messages. Settings are never logged.</summary>
internal static partial class Log
{
    public const int ScheduleCreatedId = 80;
    public const int ScheduleChangedId = 81;
    public const int ScheduleFiredId = 82;
    public const int ScheduleSkippedId = 83;
    public const int ScheduleAutoPausedId = 84;
    public const int ScheduleClaimLostId = 85;
    public const int SchedulerFailedId = 86;
    public const int SchedulerRecoveredId = 87;
    public const int SchedulerIdleId = 88;
    public const int ScheduleDeletedId = 89;
    public const int ScheduleCancelledPreviousId = 90;
    public const int ScheduleTriggeredId = 91;

    [LoggerMessage(EventId = ScheduleTriggeredId, EventName = "ScheduleTriggered", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} triggered by hand: run {RunId}")]
    public static partial void ScheduleTriggered(this ILogger logger, Guid scheduleId, Guid runId);

    [LoggerMessage(EventId = ScheduleCreatedId, EventName = "ScheduleCreated", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} of plugin {PluginName} created for user {UserId}: '{CronExpression}' in {TimeZone}, next at {NextFireAt}")]
    public static partial void ScheduleCreated(this ILogger logger, Guid scheduleId, string pluginName, string userId, string cronExpression, string timeZone, DateTimeOffset? nextFireAt);

    [LoggerMessage(EventId = ScheduleChangedId, EventName = "ScheduleChanged", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} {Change}; next at {NextFireAt}")]
    public static partial void ScheduleChanged(this ILogger logger, Guid scheduleId, string change, DateTimeOffset? nextFireAt);

    [LoggerMessage(EventId = ScheduleDeletedId, EventName = "ScheduleDeleted", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} deleted")]
    public static partial void ScheduleDeleted(this ILogger logger, Guid scheduleId);

    [LoggerMessage(EventId = ScheduleFiredId, EventName = "ScheduleFired", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} fired its occurrence of {Occurrence:u}: run {RunId} ({Lateness} late)")]
    public static partial void ScheduleFired(this ILogger logger, Guid scheduleId, DateTimeOffset occurrence, Guid runId, TimeSpan lateness);

    [LoggerMessage(EventId = ScheduleSkippedId, EventName = "ScheduleSkipped", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} skipped {SkippedCount} occurrences ({Reason}); next at {NextFireAt}")]
    public static partial void ScheduleSkipped(this ILogger logger, Guid scheduleId, long skippedCount, string reason, DateTimeOffset? nextFireAt);

    [LoggerMessage(EventId = ScheduleCancelledPreviousId, EventName = "ScheduleCancelledPrevious", Level = LogLevel.Information,
        Message = "Schedule {ScheduleId} cancelled its previous run {RunId} (overlap policy cancel_previous)")]
    public static partial void ScheduleCancelledPrevious(this ILogger logger, Guid scheduleId, Guid runId);

    [LoggerMessage(EventId = ScheduleAutoPausedId, EventName = "ScheduleAutoPaused", Level = LogLevel.Warning,
        Message = "Schedule {ScheduleId} of plugin {PluginName} is paused: {Reason}")]
    public static partial void ScheduleAutoPaused(this ILogger logger, Guid scheduleId, string pluginName, string reason);

    [LoggerMessage(EventId = ScheduleClaimLostId, EventName = "ScheduleClaimLost", Level = LogLevel.Debug,
        Message = "Schedule {ScheduleId} changed before this scheduler claimed its occurrence (another replica fired it, or a caller changed it)")]
    public static partial void ScheduleClaimLost(this ILogger logger, Guid scheduleId);

    [LoggerMessage(EventId = SchedulerFailedId, EventName = "SchedulerFailed", Level = LogLevel.Error,
        Message = "The scheduler's cycle failed ({FailureCount} in a row); due schedules stay due and it tries again")]
    public static partial void SchedulerFailed(this ILogger logger, Exception exception, int failureCount);

    [LoggerMessage(EventId = SchedulerRecoveredId, EventName = "SchedulerRecovered", Level = LogLevel.Information,
        Message = "The scheduler works again")]
    public static partial void SchedulerRecovered(this ILogger logger);

    [LoggerMessage(EventId = SchedulerIdleId, EventName = "SchedulerIdle", Level = LogLevel.Information,
        Message = "The scheduler is idle: the database context has no plugin schedules (call modelBuilder.AddPluginSchedules() in OnModelCreating)")]
    public static partial void SchedulerIdle(this ILogger logger);
}
