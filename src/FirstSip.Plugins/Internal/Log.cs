using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal;

/// <summary>The package's log messages. Secrets and settings are never logged.</summary>
internal static partial class Log
{
    public const int PluginDirectoryMissingId = 1;
    public const int PluginManifestInvalidId = 2;
    public const int PluginCatalogLoadedId = 3;
    public const int RunStartedId = 10;
    public const int RunStartDeduplicatedId = 11;
    public const int RunsDispatchedId = 20;
    public const int DispatchFailedId = 21;
    public const int RunFailedAtDispatchId = 22;
    public const int DispatcherFailedId = 23;
    public const int DispatchSkippedId = 24;
    public const int SecretsProviderFailedId = 25;
    public const int ResultAppliedId = 30;
    public const int ResultDuplicateId = 31;
    public const int ResultOrphanId = 32;
    public const int RetryScheduledId = 33;
    public const int ResultConflictId = 34;
    public const int RunDeadLetteredId = 35;
    public const int RunTimedOutId = 40;
    public const int RunRedispatchedId = 41;
    public const int RunNotStartedId = 42;
    public const int ReaperFailedId = 43;
    public const int RunCancelledId = 50;
    public const int CancelSignalFailedId = 51;

    [LoggerMessage(EventId = PluginDirectoryMissingId, EventName = "PluginDirectoryMissing", Level = LogLevel.Warning,
        Message = "Plugin directory {PluginDirectory} does not exist; the catalog is empty")]
    public static partial void PluginDirectoryMissing(this ILogger logger, string pluginDirectory);

    [LoggerMessage(EventId = PluginManifestInvalidId, EventName = "PluginManifestInvalid", Level = LogLevel.Error,
        Message = "Plugin {PluginName} is left out of the catalog: {Problem}")]
    public static partial void PluginManifestInvalid(this ILogger logger, string pluginName, string problem);

    [LoggerMessage(EventId = PluginCatalogLoadedId, EventName = "PluginCatalogLoaded", Level = LogLevel.Information,
        Message = "Loaded {PluginCount} plugins from {PluginDirectory}")]
    public static partial void PluginCatalogLoaded(this ILogger logger, int pluginCount, string pluginDirectory);

    [LoggerMessage(EventId = RunStartedId, EventName = "RunStarted", Level = LogLevel.Information,
        Message = "Run {RunId} of plugin {PluginName} created for user {UserId}")]
    public static partial void RunStarted(this ILogger logger, Guid runId, string pluginName, string userId);

    [LoggerMessage(EventId = RunStartDeduplicatedId, EventName = "RunStartDeduplicated", Level = LogLevel.Information,
        Message = "Start of plugin {PluginName} for user {UserId} returned existing run {RunId} (same idempotency key)")]
    public static partial void RunStartDeduplicated(this ILogger logger, Guid runId, string pluginName, string userId);

    [LoggerMessage(EventId = RunsDispatchedId, EventName = "RunsDispatched", Level = LogLevel.Debug,
        Message = "Dispatched {RunCount} runs to {StreamName}")]
    public static partial void RunsDispatched(this ILogger logger, int runCount, string streamName);

    [LoggerMessage(EventId = DispatchFailedId, EventName = "DispatchFailed", Level = LogLevel.Warning,
        Message = "Publishing {RunCount} runs to {StreamName} failed; they stay pending and are dispatched again later")]
    public static partial void DispatchFailed(this ILogger logger, Exception exception, int runCount, string streamName);

    [LoggerMessage(EventId = DispatchSkippedId, EventName = "DispatchSkipped", Level = LogLevel.Debug,
        Message = "Redis is not connected; pending runs wait for {StreamName} to be reachable")]
    public static partial void DispatchSkipped(this ILogger logger, string streamName);

    [LoggerMessage(EventId = SecretsProviderFailedId, EventName = "SecretsProviderFailed", Level = LogLevel.Error,
        Message = "The secrets provider failed for run {RunId}; the run stays pending and is dispatched again later")]
    public static partial void SecretsProviderFailed(this ILogger logger, Exception exception, Guid runId);

    [LoggerMessage(EventId = RunFailedAtDispatchId, EventName = "RunFailedAtDispatch", Level = LogLevel.Error,
        Message = "Run {RunId} failed at dispatch: {Reason}")]
    public static partial void RunFailedAtDispatch(this ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = DispatcherFailedId, EventName = "DispatcherFailed", Level = LogLevel.Error,
        Message = "The run dispatcher's cycle failed; it tries again")]
    public static partial void DispatcherFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = ResultAppliedId, EventName = "ResultApplied", Level = LogLevel.Information,
        Message = "Run {RunId} ended {RunStatus}")]
    public static partial void ResultApplied(this ILogger logger, Guid runId, string runStatus);

    [LoggerMessage(EventId = ResultDuplicateId, EventName = "ResultDuplicate", Level = LogLevel.Information,
        Message = "Result for run {RunId} ignored: the run is {RunStatus} (duplicate or late result)")]
    public static partial void ResultDuplicate(this ILogger logger, Guid runId, string runStatus);

    [LoggerMessage(EventId = ResultOrphanId, EventName = "ResultOrphan", Level = LogLevel.Warning,
        Message = "Result for unknown run {RunId} acknowledged (orphan)")]
    public static partial void ResultOrphan(this ILogger logger, Guid runId);

    [LoggerMessage(EventId = RetryScheduledId, EventName = "RetryScheduled", Level = LogLevel.Information,
        Message = "Run {RunId} failed with a retryable error; attempt {Attempt} is dispatched in {RetryDelay}")]
    public static partial void RetryScheduled(this ILogger logger, Guid runId, int attempt, TimeSpan retryDelay);

    [LoggerMessage(EventId = ResultConflictId, EventName = "ResultConflict", Level = LogLevel.Debug,
        Message = "Run {RunId} changed while its result was applied; applying again")]
    public static partial void ResultConflict(this ILogger logger, Guid runId);

    [LoggerMessage(EventId = RunDeadLetteredId, EventName = "RunDeadLettered", Level = LogLevel.Warning,
        Message = "An entry of {StreamName} for run {RunId} was dead-lettered: {Reason}")]
    public static partial void RunDeadLettered(this ILogger logger, string streamName, string runId, string reason);

    [LoggerMessage(EventId = RunTimedOutId, EventName = "RunTimedOut", Level = LogLevel.Warning,
        Message = "Run {RunId} timed out: {Reason}")]
    public static partial void RunTimedOut(this ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = RunRedispatchedId, EventName = "RunRedispatched", Level = LogLevel.Warning,
        Message = "Run {RunId} was not started within {StartTimeout}; attempt {Attempt} is dispatched")]
    public static partial void RunRedispatched(this ILogger logger, Guid runId, TimeSpan startTimeout, int attempt);

    [LoggerMessage(EventId = RunNotStartedId, EventName = "RunNotStarted", Level = LogLevel.Warning,
        Message = "Run {RunId} failed: {Reason}")]
    public static partial void RunNotStarted(this ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = ReaperFailedId, EventName = "ReaperFailed", Level = LogLevel.Error,
        Message = "The run reaper's cycle failed; it tries again")]
    public static partial void ReaperFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = RunCancelledId, EventName = "RunCancelled", Level = LogLevel.Information,
        Message = "Run {RunId} cancelled")]
    public static partial void RunCancelled(this ILogger logger, Guid runId);

    [LoggerMessage(EventId = CancelSignalFailedId, EventName = "CancelSignalFailed", Level = LogLevel.Warning,
        Message = "Could not signal the cancellation of run {RunId} to the workers")]
    public static partial void CancelSignalFailed(this ILogger logger, Exception exception, Guid runId);
}
