using FirstSip.Plugins;

namespace FirstSip.Samples.Briefings;

/// <summary>A run's timeline as the sample hosts print and serve it (snake_case JSON with <see cref="RunRecord.JsonOptions"/>).</summary>
public sealed record TimelineRecord
{
    /// <summary>Gets the run, as the other commands and endpoints show it (never its sealed secrets).</summary>
    public required RunRecord Run { get; init; }

    /// <summary>Gets the run's error, if it failed.</summary>
    public string? Error { get; init; }

    /// <summary>Gets when the run was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Gets the entries, oldest first.</summary>
    public required IReadOnlyList<TimelineEntryRecord> Entries { get; init; }

    /// <summary>Gets the time the run waited in the queue, in milliseconds.</summary>
    public double? QueueMs { get; init; }

    /// <summary>Gets the time the run executed, in milliseconds.</summary>
    public double? ExecutionMs { get; init; }

    /// <summary>Gets the run's whole time so far, in milliseconds.</summary>
    public double TotalMs { get; init; }

    /// <summary>Creates the record of a timeline.</summary>
    /// <param name="timeline">The timeline.</param>
    /// <returns>The record.</returns>
    public static TimelineRecord From(PluginRunTimeline timeline)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        return new TimelineRecord
        {
            Run = RunRecord.From(timeline.Run),
            Error = timeline.Run.Error,
            CreatedAt = timeline.Run.CreatedAt,
            Entries = [.. timeline.Entries.Select(e => new TimelineEntryRecord
            {
                At = e.At,
                Kind = What(e),
                Attempt = e.Attempt,
                Step = e.Step,
                Message = e.Message,
                Worker = e.Worker,
                SincePreviousMs = e.SincePrevious?.TotalMilliseconds,
            })],
            QueueMs = timeline.QueueTime?.TotalMilliseconds,
            ExecutionMs = timeline.ExecutionTime?.TotalMilliseconds,
            TotalMs = timeline.TotalTime.TotalMilliseconds,
        };
    }

    /// <summary>What a timeline entry records: the status an attempt ended with, else the kind (<c>created</c>, <c>started</c>, …).</summary>
    /// <param name="entry">The entry.</param>
    /// <returns>The text.</returns>
    public static string What(PluginRunTimelineEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Kind == PluginRunTimelineKind.Ended && entry.Status is { } status ? status.ToWireString() : entry.Kind.ToString().ToLowerInvariant();
    }
}

/// <summary>One entry of a <see cref="TimelineRecord"/>.</summary>
public sealed record TimelineEntryRecord
{
    /// <summary>Gets when it happened.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>Gets what happened (see <see cref="TimelineRecord.What"/>).</summary>
    public required string Kind { get; init; }

    /// <summary>Gets the attempt it belongs to.</summary>
    public int? Attempt { get; init; }

    /// <summary>Gets the step, for progress.</summary>
    public string? Step { get; init; }

    /// <summary>Gets the message.</summary>
    public string? Message { get; init; }

    /// <summary>Gets the worker that reported it.</summary>
    public string? Worker { get; init; }

    /// <summary>Gets the time since the entry before, in milliseconds.</summary>
    public double? SincePreviousMs { get; init; }
}
