using Microsoft.Extensions.Logging;

namespace FirstSip.Streams.Internal;

/// <summary>Log messages of the operations API and the consumer sweeper.</summary>
internal static partial class Log
{
    private const int StaleConsumerRemovedId = 40;
    private const int ConsumerSweepFailedId = 41;
    private const int DeadLetterReplayedId = 42;

    [LoggerMessage(StaleConsumerRemovedId, LogLevel.Information, "Removed stale consumer {ConsumerName} from group {ConsumerGroup} of stream {StreamName}: it held nothing, was idle and is not in the worker registry", EventName = "StaleConsumerRemoved")]
    public static partial void StaleConsumerRemoved(this ILogger logger, string consumerName, string consumerGroup, string streamName);

    [LoggerMessage(ConsumerSweepFailedId, LogLevel.Warning, "Removing stale consumers from group {ConsumerGroup} of stream {StreamName} failed; the next sweep tries again", EventName = "ConsumerSweepFailed")]
    public static partial void ConsumerSweepFailed(this ILogger logger, Exception exception, string streamName, string consumerGroup);

    [LoggerMessage(DeadLetterReplayedId, LogLevel.Information, "Replayed dead letter {MessageId} to stream {StreamName} as {NewMessageId}", EventName = "DeadLetterReplayed")]
    public static partial void DeadLetterReplayed(this ILogger logger, string messageId, string streamName, string newMessageId);
}
