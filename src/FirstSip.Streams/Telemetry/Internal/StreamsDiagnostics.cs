using System.Diagnostics;

namespace FirstSip.Streams.Internal;

/// <summary>The library's activity source and the OpenTelemetry messaging attribute names it uses.</summary>
internal static class StreamsDiagnostics
{
    public const string MessagingSystem = "messaging.system";
    public const string DestinationName = "messaging.destination.name";
    public const string ConsumerGroup = "messaging.consumer.group.name";
    public const string MessageId = "messaging.message.id";
    public const string OperationType = "messaging.operation.type";
    public const string BatchCount = "messaging.batch.message_count";
    public const string ErrorType = "error.type";

    public static readonly ActivitySource Source = new(PluginStreamsTelemetry.ActivitySourceName);
}
