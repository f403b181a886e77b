namespace FirstSip.Plugins;

/// <summary>
/// What an operator does with runs: search them, read a run's timeline, see why runs fail and how many finish, retry
/// a failed or timed-out run as a new attempt, clone a run, cancel one, replay a dead-lettered request, and delete old
/// terminal runs. Registered by <c>AddPluginRunStore</c> as a scoped service (it uses the scope's <c>DbContext</c>).
/// </summary>
public interface IPluginOperations
{
    /// <summary>Lists runs, newest first, with the filters of <see cref="PluginRunSearch"/> and a case-insensitive text search.</summary>
    /// <param name="search">Filters, text and paging.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>One page of runs and the total count of matching runs.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="search"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The paging is out of range.</exception>
    Task<PluginRunPage> SearchRunsAsync(PluginRunSearch search, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads a run's timeline: its transitions from the run's own columns (created, dispatched, started, ended), every
    /// progress event of every attempt from the event stream, and the ends of earlier attempts from the result stream
    /// (while the streams still hold them), in time order.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The timeline, or <see langword="null"/> when there is no such run.</returns>
    Task<PluginRunTimeline?> GetTimelineAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>Groups the runs that failed or timed out since a time by their error, with digits and ids folded so that alike errors group together.</summary>
    /// <param name="since">The earliest end time.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The reasons, most frequent first.</returns>
    Task<IReadOnlyList<PluginFailureReason>> GetFailureBreakdownAsync(DateTimeOffset since, CancellationToken cancellationToken = default);

    /// <summary>Counts the runs that ended since a time, per interval and outcome: the throughput and failure rate over time.</summary>
    /// <param name="since">The start of the first interval.</param>
    /// <param name="interval">The length of one interval (at least one second).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>One bucket per interval up to now, oldest first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is shorter than a second, or makes more than 10,000 buckets.</exception>
    Task<IReadOnlyList<PluginRunActivityBucket>> GetActivityAsync(DateTimeOffset since, TimeSpan interval, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a <see cref="PluginRunStatus.Failed"/> or <see cref="PluginRunStatus.TimedOut"/> run again as its next attempt,
    /// with the same run id: its <c>done</c> marker is set to settle the earlier attempts only, its stop signal is cleared,
    /// and the run goes back to <see cref="PluginRunStatus.Pending"/> for the dispatcher.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>What happened.</returns>
    /// <exception cref="StackExchange.Redis.RedisException">Redis could not take the markers; nothing changed.</exception>
    Task<PluginRunActionResult> RetryAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a new run with the same plugin, user, settings, limits and attempts as an existing one. The original's own
    /// sealed secrets are not copied: the host's secrets provider supplies secrets at dispatch.
    /// </summary>
    /// <param name="runId">The run to clone.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The new run, or <see langword="null"/> when there is no such run.</returns>
    Task<PluginRun?> CloneAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>Cancels a run that has not ended (see <see cref="IPluginRunner.CancelAsync"/>).</summary>
    /// <param name="runId">The run id.</param>
    /// <param name="reason">The reason, <c>cancelled</c> by default.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>What happened.</returns>
    Task<PluginRunActionResult> CancelAsync(Guid runId, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replays a dead letter of a plugin stream. A dead-lettered request whose run is known and has ended failed or timed
    /// out is run again through <see cref="RetryAsync"/> (its sealed secrets were never copied to the dead letter, so the
    /// dispatcher publishes a complete request), and the letter is deleted; any other letter is put back on its stream as it was.
    /// </summary>
    /// <param name="streamName">The original stream.</param>
    /// <param name="entryId">The dead letter's id.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>What happened.</returns>
    Task<DeadLetterReplayResult> ReplayDeadLetterAsync(string streamName, string entryId, CancellationToken cancellationToken = default);

    /// <summary>Deletes terminal runs that ended before a time (at most <paramref name="batchSize"/> of them).</summary>
    /// <param name="endedBefore">The time before which runs ended.</param>
    /// <param name="batchSize">The most runs to delete in this call.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>How many runs were deleted.</returns>
    Task<int> DeleteTerminalRunsAsync(DateTimeOffset endedBefore, int batchSize = 1000, CancellationToken cancellationToken = default);
}
