namespace FirstSip.Streams;

/// <summary>The kind of a progress event.</summary>
public enum PluginEventKind
{
    /// <summary>Execution began (<c>started</c> on the wire).</summary>
    Started,

    /// <summary>A step finished; <see cref="PluginEvent.Step"/> names it (<c>step</c> on the wire).</summary>
    Step,

    /// <summary>The run is still executing (<c>heartbeat</c> on the wire).</summary>
    Heartbeat,
}
