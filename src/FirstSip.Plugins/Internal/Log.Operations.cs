using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal;

/// <summary>Log messages of the operations API and the run retention job.</summary>
internal static partial class Log
{
    public const int RunRetriedId = 100;
    public const int RunClonedId = 101;
    public const int DeadLetterRunRetriedId = 102;
    public const int TerminalRunsDeletedId = 103;
    public const int RetentionFailedId = 104;

    [LoggerMessage(EventId = RunRetriedId, EventName = "RunRetried", Level = LogLevel.Information,
        Message = "Run {RunId} is retried by hand as attempt {Attempt}")]
    public static partial void RunRetried(this ILogger logger, Guid runId, int attempt);

    [LoggerMessage(EventId = RunClonedId, EventName = "RunCloned", Level = LogLevel.Information,
        Message = "Run {RunId} was cloned as run {NewRunId}")]
    public static partial void RunCloned(this ILogger logger, Guid runId, Guid newRunId);

    [LoggerMessage(EventId = DeadLetterRunRetriedId, EventName = "DeadLetterRunRetried", Level = LogLevel.Information,
        Message = "Dead letter {MessageId} of stream {StreamName} was replayed by retrying its run {RunId}")]
    public static partial void DeadLetterRunRetried(this ILogger logger, string messageId, string streamName, Guid runId);

    [LoggerMessage(EventId = TerminalRunsDeletedId, EventName = "TerminalRunsDeleted", Level = LogLevel.Information,
        Message = "Deleted {Count} terminal runs that ended before {EndedBefore}")]
    public static partial void TerminalRunsDeleted(this ILogger logger, int count, DateTimeOffset endedBefore);

    [LoggerMessage(EventId = RetentionFailedId, EventName = "RetentionFailed", Level = LogLevel.Error,
        Message = "Deleting old terminal runs failed; the next cycle tries again")]
    public static partial void RetentionFailed(this ILogger logger, Exception exception);
}
