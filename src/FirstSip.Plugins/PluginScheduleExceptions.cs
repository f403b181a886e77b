using FirstSip.Streams;

namespace FirstSip.Plugins;

/// <summary>A schedule was created or changed with a cron expression, time zone or cap that cannot be used. Nothing was written.</summary>
public sealed class InvalidPluginScheduleException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="InvalidPluginScheduleException"/> class.</summary>
    /// <param name="problem">What is wrong.</param>
    public InvalidPluginScheduleException(string problem)
        : base($"invalid schedule: {problem}")
    {
        Problem = problem;
    }

    /// <summary>Gets what is wrong.</summary>
    public string Problem { get; }
}

/// <summary>A schedule changed between the caller's read and its update (<see cref="UpdatePluginScheduleRequest.ExpectedVersion"/>). Nothing was written.</summary>
public sealed class PluginScheduleConflictException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="PluginScheduleConflictException"/> class.</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="expectedVersion">The version the caller read.</param>
    /// <param name="actualVersion">The version in the database.</param>
    public PluginScheduleConflictException(Guid scheduleId, long expectedVersion, long actualVersion)
        : base($"schedule {scheduleId} is at version {actualVersion}, not {expectedVersion}: it changed since it was read")
    {
        ScheduleId = scheduleId;
        ExpectedVersion = expectedVersion;
        ActualVersion = actualVersion;
    }

    /// <summary>Gets the schedule's id.</summary>
    public Guid ScheduleId { get; }

    /// <summary>Gets the version the caller read.</summary>
    public long ExpectedVersion { get; }

    /// <summary>Gets the version in the database.</summary>
    public long ActualVersion { get; }
}
