namespace FirstSip.Streams;

/// <summary>The outcome a worker reports for a plugin run.</summary>
public enum PluginResultStatus
{
    /// <summary>The run completed; <see cref="PluginResult.Output"/> holds its output (<c>completed</c> on the wire).</summary>
    Completed,

    /// <summary>The run failed; <see cref="PluginResult.Error"/> says why (<c>failed</c> on the wire).</summary>
    Failed,
}
