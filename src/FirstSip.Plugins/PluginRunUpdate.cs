namespace FirstSip.Plugins;

/// <summary>What a <see cref="PluginRunUpdate"/> reports.</summary>
public enum PluginRunUpdateKind
{
    /// <summary>The run's state (its status, attempt or last step) as stored.</summary>
    Status,

    /// <summary>A progress event from a worker (started, a finished step, a heartbeat).</summary>
    Progress,
}

/// <summary>One item of <see cref="IPluginRunner.WatchAsync"/>.</summary>
public sealed record PluginRunUpdate
{
    /// <summary>Gets the run id.</summary>
    public required Guid RunId { get; init; }

    /// <summary>Gets what this update reports.</summary>
    public required PluginRunUpdateKind Kind { get; init; }

    /// <summary>Gets the run's status at the time of the update.</summary>
    public required PluginRunStatus Status { get; init; }

    /// <summary>Gets the run's current attempt.</summary>
    public int Attempt { get; init; }

    /// <summary>Gets the run's last progress step.</summary>
    public string? LastStep { get; init; }

    /// <summary>Gets, for a progress update, the event kind: <c>started</c>, <c>step</c> or <c>heartbeat</c>.</summary>
    public string? ProgressKind { get; init; }

    /// <summary>Gets, for a progress update, the step the event names.</summary>
    public string? Step { get; init; }

    /// <summary>Gets, for a progress update, the event's message.</summary>
    public string? Message { get; init; }

    /// <summary>Gets the run's error, when it has one.</summary>
    public string? Error { get; init; }

    /// <summary>Gets when the update happened (UTC).</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>Gets the stored run's version at a status update (it grows with every transition), 0 when unknown.</summary>
    internal long Version { get; init; }

    /// <summary>Gets, for a progress update, the id of its entry on the event stream (unique per event).</summary>
    internal string? EventId { get; init; }

    /// <summary>Gets whether the run is terminal at this update (the watch ends after it).</summary>
    public bool IsTerminal => Kind == PluginRunUpdateKind.Status && Status.IsTerminal();
}
