namespace FirstSip.Plugins;

/// <summary>The state of a plugin run. Stored and shown as the lowercase wire strings (<c>pending</c> … <c>timed_out</c>).</summary>
public enum PluginRunStatus
{
    /// <summary>The run's row is written and waits for the dispatcher (<c>pending</c>).</summary>
    Pending,

    /// <summary>The request is on the request stream; no worker has reported a start yet (<c>dispatched</c>).</summary>
    Dispatched,

    /// <summary>A worker reported that it started the run (<c>running</c>).</summary>
    Running,

    /// <summary>The run ended with valid JSON output (<c>completed</c>). Terminal.</summary>
    Completed,

    /// <summary>The run ended with an error (<c>failed</c>). Terminal.</summary>
    Failed,

    /// <summary>The run passed its deadline without a result (<c>timed_out</c>). Terminal.</summary>
    TimedOut,

    /// <summary>The run was cancelled by the application (<c>cancelled</c>). Terminal.</summary>
    Cancelled,
}

/// <summary>Helpers for <see cref="PluginRunStatus"/>.</summary>
public static class PluginRunStatusExtensions
{
    /// <summary>Returns whether the status is terminal (completed, failed, timed out or cancelled).</summary>
    /// <param name="status">The status.</param>
    /// <returns><see langword="true"/> when no further transition can happen.</returns>
    public static bool IsTerminal(this PluginRunStatus status) =>
        status is PluginRunStatus.Completed or PluginRunStatus.Failed or PluginRunStatus.TimedOut or PluginRunStatus.Cancelled;

    /// <summary>Returns the wire and storage text of the status (<c>pending</c>, <c>dispatched</c>, …, <c>timed_out</c>).</summary>
    /// <param name="status">The status.</param>
    /// <returns>The lowercase text.</returns>
    public static string ToWireString(this PluginRunStatus status) => status switch
    {
        PluginRunStatus.Pending => "pending",
        PluginRunStatus.Dispatched => "dispatched",
        PluginRunStatus.Running => "running",
        PluginRunStatus.Completed => "completed",
        PluginRunStatus.Failed => "failed",
        PluginRunStatus.TimedOut => "timed_out",
        PluginRunStatus.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown run status"),
    };

    /// <summary>Parses the wire and storage text of a status.</summary>
    /// <param name="text">The lowercase text.</param>
    /// <returns>The status.</returns>
    /// <exception cref="FormatException">The text is not a known status.</exception>
    public static PluginRunStatus ParseWireString(string text) => text switch
    {
        "pending" => PluginRunStatus.Pending,
        "dispatched" => PluginRunStatus.Dispatched,
        "running" => PluginRunStatus.Running,
        "completed" => PluginRunStatus.Completed,
        "failed" => PluginRunStatus.Failed,
        "timed_out" => PluginRunStatus.TimedOut,
        "cancelled" => PluginRunStatus.Cancelled,
        _ => throw new FormatException($"unknown run status '{text}'"),
    };
}
