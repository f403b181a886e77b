namespace FirstSip.Streams;

/// <summary>Why a worker reports a plugin run as failed (the optional <c>kind</c> of a failed result's payload).</summary>
public enum PluginFailureKind
{
    /// <summary>The plugin failed, or the worker could not run it (<c>failed</c> on the wire).</summary>
    Failed,

    /// <summary>The execution timeout or the run's overall deadline ended the execution (<c>timed_out</c>).</summary>
    TimedOut,

    /// <summary>The queue timeout or the overall deadline passed before a worker started the run (<c>not_started</c>).</summary>
    NotStarted,

    /// <summary>The run was already terminal in the application, which told the workers to stop it (<c>cancelled</c>).</summary>
    Cancelled,
}
