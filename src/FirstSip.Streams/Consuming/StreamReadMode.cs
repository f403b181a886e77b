namespace FirstSip.Streams;

/// <summary>How a reader waits for new entries.</summary>
public enum StreamReadMode
{
    /// <summary>
    /// <c>XREADGROUP ... BLOCK</c> on a dedicated connection that carries nothing else: lowest latency (the default).
    /// </summary>
    Blocking,

    /// <summary>
    /// Non-blocking <c>XREADGROUP</c> on the shared connection, repeated every <see cref="StreamReaderOptions.PollInterval"/>
    /// while the stream is idle. For proxies that forbid blocking commands.
    /// </summary>
    Polling,
}
