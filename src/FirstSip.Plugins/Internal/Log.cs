using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal;

/// <summary>The package's log messages. Secrets and settings are never logged.</summary>
internal static partial class Log
{
    public const int PluginDirectoryMissingId = 1;
    public const int PluginManifestInvalidId = 2;
    public const int PluginCatalogLoadedId = 3;
    public const int PluginManifestWarningId = 4;
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
    public const int ReaperFailedId = 43;
    public const int RunCancelledId = 50;
    public const int CancelSignalFailedId = 51;
    public const int StopSignalFailedId = 52;
    public const int DispatcherRecoveredId = 26;
    public const int DispatchPutBackId = 27;
    public const int RequestLostId = 44;
    public const int RequestMissingId = 45;
    public const int ReaperRecoveredId = 46;
    public const int BackstopDeferredId = 48;
    public const int UnpublishedRunPutBackId = 47;
    public const int ResultAppliedAfterTimeoutId = 36;
    public const int DatabaseUnavailableId = 37;
    public const int BatchFailedId = 63;

    [LoggerMessage(EventId = PluginDirectoryMissingId, EventName = "PluginDirectoryMissing", Level = LogLevel.Warning,
        Message = "Plugin directory {PluginDirectory} does not exist; the catalog is empty")]
    public static partial void PluginDirectoryMissing(this ILogger logger, string pluginDirectory);

    [LoggerMessage(EventId = PluginManifestInvalidId, EventName = "PluginManifestInvalid", Level = LogLevel.Error,
        Message = "Plugin {PluginName} is left out of the catalog: {Problem}")]
    public static partial void PluginManifestInvalid(this ILogger logger, string pluginName, string problem);

    [LoggerMessage(EventId = PluginManifestWarningId, EventName = "PluginManifestWarning", Level = LogLevel.Warning,
        Message = "Plugin {PluginName}: {Problem}")]
    public static partial void PluginManifestWarning(this ILogger logger, string pluginName, string problem);

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
        Message = "The run dispatcher's cycle failed ({FailureCount} in a row); it tries again with a backoff")]
    public static partial void DispatcherFailed(this ILogger logger, Exception exception, int failureCount);

    [LoggerMessage(EventId = DispatcherRecoveredId, EventName = "DispatcherRecovered", Level = LogLevel.Information,
        Message = "The run dispatcher works again")]
    public static partial void DispatcherRecovered(this ILogger logger);

    [LoggerMessage(EventId = DispatchPutBackId, EventName = "DispatchPutBack", Level = LogLevel.Warning,
        Message = "Run {RunId} was not dispatched ({FailureCount} failures in a row); it is tried again in {RetryDelay}: {Reason}")]
    public static partial void DispatchPutBack(this ILogger logger, Guid runId, int failureCount, TimeSpan retryDelay, string reason);

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

    [LoggerMessage(EventId = RequestLostId, EventName = "RequestLost", Level = LogLevel.Warning,
        Message = "The request {EntryId} of run {RunId} (attempt {Attempt}) is gone from {StreamName}, with no worker holding the run; it is published again as the same attempt")]
    public static partial void RequestLost(this ILogger logger, Guid runId, string entryId, int attempt, string streamName);

    [LoggerMessage(EventId = RequestMissingId, EventName = "RequestMissing", Level = LogLevel.Information,
        Message = "The request {EntryId} of run {RunId} is not in {StreamName} and no worker holds the run; it is published again if it is still missing at the next check")]
    public static partial void RequestMissing(this ILogger logger, Guid runId, string entryId, string streamName);

    [LoggerMessage(EventId = BackstopDeferredId, EventName = "BackstopDeferred", Level = LogLevel.Information,
        Message = "Run {RunId} is past its execution backstop but is not timed out: {Reason}")]
    public static partial void BackstopDeferred(this ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = UnpublishedRunPutBackId, EventName = "UnpublishedRunPutBack", Level = LogLevel.Warning,
        Message = "Run {RunId} was claimed for dispatch but its publish was never recorded; it is pending again")]
    public static partial void UnpublishedRunPutBack(this ILogger logger, Guid runId);

    [LoggerMessage(EventId = ReaperFailedId, EventName = "ReaperFailed", Level = LogLevel.Error,
        Message = "The run reaper's cycle failed ({FailureCount} in a row); it tries again")]
    public static partial void ReaperFailed(this ILogger logger, Exception exception, int failureCount);

    [LoggerMessage(EventId = ReaperRecoveredId, EventName = "ReaperRecovered", Level = LogLevel.Information,
        Message = "The run reaper works again")]
    public static partial void ReaperRecovered(this ILogger logger);

    [LoggerMessage(EventId = RunCancelledId, EventName = "RunCancelled", Level = LogLevel.Information,
        Message = "Run {RunId} cancelled")]
    public static partial void RunCancelled(this ILogger logger, Guid runId);

    [LoggerMessage(EventId = StopSignalFailedId, EventName = "StopSignalFailed", Level = LogLevel.Warning,
        Message = "Could not tell the workers that {RunCount} runs ended; the reaper sends the signals again")]
    public static partial void StopSignalFailed(this ILogger logger, Exception exception, int runCount);

    [LoggerMessage(EventId = ResultAppliedAfterTimeoutId, EventName = "ResultAppliedAfterTimeout", Level = LogLevel.Warning,
        Message = "Run {RunId} had timed out ({Reason}), but a worker completed it: the completed result is applied")]
    public static partial void ResultAppliedAfterTimeout(this ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = DatabaseUnavailableId, EventName = "DatabaseUnavailable",
        Message = "Applying {StreamName} entry {MessageId} failed with a transient database error (try {Attempt}); it is tried again in {RetryDelay}")]
    public static partial void DatabaseUnavailable(this ILogger logger, LogLevel level, Exception exception, string streamName, string messageId, int attempt, TimeSpan retryDelay);

    [LoggerMessage(EventId = BatchFailedId, EventName = "BatchFailed", Level = LogLevel.Debug,
        Message = "A batch of {Count} {What} could not be applied in one transaction; they are applied one by one")]
    public static partial void BatchFailed(this ILogger logger, Exception exception, string what, int count);
}
