using Microsoft.Extensions.Logging;

namespace FirstSip.Streams.Internal;

/// <summary>Every log message of the library.</summary>
internal static partial class Log
{
    private const int ReaderStartingId = 1;
    private const int ReaderStoppedId = 2;
    private const int ReadFailedId = 3;
    private const int HandlerFailedId = 4;
    private const int DeadLetteredId = 5;
    private const int DeadLetterFailedId = 6;
    private const int ReclaimedId = 7;
    private const int DeletedWhilePendingId = 8;
    private const int GroupCreatedId = 9;
    private const int UpkeepFailedId = 10;
    private const int AckFailedId = 11;
    private const int HandlersCancelledId = 12;
    private const int HandlerCancelledId = 13;
    private const int PublishFailedId = 14;
    private const int TrimmedId = 15;
    private const int TrimFailedId = 16;
    private const int GroupMissingId = 17;
    private const int PayloadTraceId = 18;
    private const int RecoveredPendingId = 19;
    private const int RenewFailedId = 20;
    private const int DeliveredTooOftenId = 21;
    private const int TrimmedByAgeId = 22;

    [LoggerMessage(ReaderStartingId, LogLevel.Information, "Reader {ReaderName} starting on stream {StreamName}, group {ConsumerGroup}, consumer {ConsumerName} ({ReadMode}, concurrency {Concurrency})", EventName = "ReaderStarting")]
    public static partial void ReaderStarting(this ILogger logger, string readerName, string streamName, string consumerGroup, string consumerName, StreamReadMode readMode, int concurrency);

    [LoggerMessage(ReaderStoppedId, LogLevel.Information, "Reader {ReaderName} stopped on stream {StreamName}", EventName = "ReaderStopped")]
    public static partial void ReaderStopped(this ILogger logger, string readerName, string streamName);

    [LoggerMessage(ReadFailedId, LogLevel.Warning, "Reading stream {StreamName} for group {ConsumerGroup} failed; retrying in {RetryDelay}", EventName = "ReadFailed")]
    public static partial void ReadFailed(this ILogger logger, Exception exception, string streamName, string consumerGroup, TimeSpan retryDelay);

    [LoggerMessage(DeliveredTooOftenId, LogLevel.Warning, "Entry {MessageId} of stream {StreamName} is delivered for the {DeliveryCount}th time (maximum {MaxDeliveries}); it is handled again, not dead-lettered", EventName = "DeliveredTooOften")]
    public static partial void DeliveredTooOften(this ILogger logger, string messageId, string streamName, long deliveryCount, int maxDeliveries);

    [LoggerMessage(HandlerFailedId, LogLevel.Error, "Handler failed for entry {MessageId} of stream {StreamName} (delivery {DeliveryCount}); the entry stays pending and will be retried", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(this ILogger logger, Exception exception, string messageId, string streamName, long deliveryCount);

    [LoggerMessage(HandlerCancelledId, LogLevel.Debug, "Handler cancelled for entry {MessageId} of stream {StreamName}; the entry stays pending", EventName = "HandlerCancelled")]
    public static partial void HandlerCancelled(this ILogger logger, string messageId, string streamName);

    [LoggerMessage(DeadLetteredId, LogLevel.Warning, "Entry {MessageId} of stream {StreamName} moved to {DeadLetterStream}: {Reason}", EventName = "DeadLettered")]
    public static partial void DeadLettered(this ILogger logger, string messageId, string streamName, string deadLetterStream, string reason);

    [LoggerMessage(DeadLetterFailedId, LogLevel.Error, "Dead-lettering entry {MessageId} of stream {StreamName} failed; the entry stays pending", EventName = "DeadLetterFailed")]
    public static partial void DeadLetterFailed(this ILogger logger, Exception exception, string messageId, string streamName);

    [LoggerMessage(ReclaimedId, LogLevel.Information, "Claimed {Count} idle entries of stream {StreamName} for consumer {ConsumerName}", EventName = "Reclaimed")]
    public static partial void Reclaimed(this ILogger logger, int count, string streamName, string consumerName);

    [LoggerMessage(DeletedWhilePendingId, LogLevel.Warning, "Entry {MessageId} of stream {StreamName} was deleted while pending for group {ConsumerGroup}; it is dropped from the pending list", EventName = "DeletedWhilePending")]
    public static partial void DeletedWhilePending(this ILogger logger, string messageId, string streamName, string consumerGroup);

    [LoggerMessage(GroupCreatedId, LogLevel.Information, "Consumer group {ConsumerGroup} ready on stream {StreamName}", EventName = "GroupReady")]
    public static partial void GroupReady(this ILogger logger, string consumerGroup, string streamName);

    [LoggerMessage(GroupMissingId, LogLevel.Warning, "Consumer group {ConsumerGroup} is missing on stream {StreamName} (was Redis restarted or the key deleted?); creating it again", EventName = "GroupMissing")]
    public static partial void GroupMissing(this ILogger logger, string consumerGroup, string streamName);

    [LoggerMessage(UpkeepFailedId, LogLevel.Warning, "Upkeep {Task} of stream {StreamName} failed; it runs again at the next interval", EventName = "UpkeepFailed")]
    public static partial void UpkeepFailed(this ILogger logger, Exception exception, string task, string streamName);

    [LoggerMessage(AckFailedId, LogLevel.Warning, "Acknowledging {Count} entries of stream {StreamName} failed; retrying", EventName = "AckFailed")]
    public static partial void AckFailed(this ILogger logger, Exception exception, int count, string streamName);

    [LoggerMessage(HandlersCancelledId, LogLevel.Warning, "Reader {ReaderName}: {Count} handlers still running after the grace period of {GracePeriod}; cancelling them", EventName = "HandlersCancelled")]
    public static partial void HandlersCancelled(this ILogger logger, string readerName, int count, TimeSpan gracePeriod);

    [LoggerMessage(PublishFailedId, LogLevel.Error, "Publishing to stream {StreamName} failed", EventName = "PublishFailed")]
    public static partial void PublishFailed(this ILogger logger, Exception exception, string streamName);

    [LoggerMessage(TrimmedId, LogLevel.Debug, "Trimmed {Count} acknowledged entries of stream {StreamName} below {MinId}", EventName = "Trimmed")]
    public static partial void Trimmed(this ILogger logger, long count, string streamName, string minId);

    [LoggerMessage(TrimmedByAgeId, LogLevel.Debug, "Trimmed {Count} entries older than {Age} of stream {StreamName}", EventName = "TrimmedByAge")]
    public static partial void TrimmedByAge(this ILogger logger, long count, string streamName, TimeSpan age);

    [LoggerMessage(TrimFailedId, LogLevel.Warning, "Trimming stream {StreamName} failed", EventName = "TrimFailed")]
    public static partial void TrimFailed(this ILogger logger, Exception exception, string streamName);

    [LoggerMessage(PayloadTraceId, LogLevel.Trace, "Entry {MessageId} of stream {StreamName}: {Payload}", EventName = "EntryPayload")]
    public static partial void EntryPayload(this ILogger logger, string messageId, string streamName, string? payload);

    [LoggerMessage(RecoveredPendingId, LogLevel.Information, "Recovered {Count} pending entries of consumer {ConsumerName} on stream {StreamName}", EventName = "RecoveredPending")]
    public static partial void RecoveredPending(this ILogger logger, int count, string consumerName, string streamName);

    [LoggerMessage(RenewFailedId, LogLevel.Warning, "Renewing {Count} in-flight entries of stream {StreamName} failed", EventName = "RenewFailed")]
    public static partial void RenewFailed(this ILogger logger, Exception exception, int count, string streamName);
}
