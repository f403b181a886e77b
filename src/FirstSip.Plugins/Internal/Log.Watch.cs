using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal;

/// <summary>Log messages of watching and waiting on runs, and of runs nothing picks up.</summary>
internal static partial class Log
{
    public const int RunUpdateRelayFailedId = 60;
    public const int RunPendingWithoutDispatcherId = 61;
    public const int RunsWaitingWithoutDispatcherId = 62;

    [LoggerMessage(EventId = RunUpdateRelayFailedId, EventName = "RunUpdateRelayFailed", Level = LogLevel.Warning,
        Message = "Run updates cannot be shared with the application's other processes through Redis pub/sub; watchers fall back to reading the database")]
    public static partial void RunUpdateRelayFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = RunPendingWithoutDispatcherId, EventName = "RunPendingWithoutDispatcher", Level = LogLevel.Warning,
        Message = "Run {RunId} is still pending after {PendingFor} and this process runs no dispatcher: start the host " +
                  "(IHost.StartAsync or app.Run), whose hosted services publish runs and apply results, or run the app side in another process")]
    public static partial void RunPendingWithoutDispatcher(this ILogger logger, Guid runId, TimeSpan pendingFor);
}
