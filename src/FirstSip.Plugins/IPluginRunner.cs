namespace FirstSip.Plugins;

/// <summary>
/// Starts, reads, waits on, watches and cancels plugin runs. Registered by
/// <c>AddPluginRunStore</c> as a scoped service (it uses the scope's <c>DbContext</c>).
/// </summary>
public interface IPluginRunner
{
    /// <summary>
    /// Validates the request against the plugin catalog and writes the run as <see cref="PluginRunStatus.Pending"/>
    /// (in the caller's open transaction, if there is one). The hosted dispatcher then publishes it.
    /// </summary>
    /// <param name="request">What to run.</param>
    /// <param name="cancellationToken">
    /// Cancels the operation. On the package's own context, concurrent starts without an idempotency key are written
    /// together in one transaction; once a start is handed over to be written, it is written or fails, and the token
    /// no longer withdraws it (a caller is never told that a run it started was not).
    /// </param>
    /// <returns>The new run, or the existing run with the same idempotency key inside its window.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    /// <exception cref="InvalidPluginSettingsException">The settings fail the plugin's settings schema; nothing is written.</exception>
    Task<PluginRun> StartAsync(StartPluginRunRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads one run.</summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The run, or <see langword="null"/> when there is none with that id.</returns>
    Task<PluginRun?> GetAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>Lists runs, newest first, with filters and paging.</summary>
    /// <param name="query">Filters and paging.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>One page of runs and the total count of matching runs.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="query"/> is null.</exception>
    Task<PluginRunPage> ListAsync(PluginRunQuery query, CancellationToken cancellationToken = default);

    /// <summary>Waits until the run is terminal (completed, failed, timed out or cancelled).</summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Stops waiting (use a timeout token to bound the wait).</param>
    /// <returns>The terminal run.</returns>
    /// <exception cref="KeyNotFoundException">There is no run with that id.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled first.</exception>
    Task<PluginRun> WaitAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams the run's updates: its current state first, then every status change and progress event,
    /// ending after the terminal state. Works for changes applied by another process too (the row is re-read periodically).
    /// A run that has already ended gives its progress events (read back from the event stream while it holds them) and then its terminal state.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <returns>The updates.</returns>
    /// <exception cref="KeyNotFoundException">There is no run with that id.</exception>
    IAsyncEnumerable<PluginRunUpdate> WatchAsync(Guid runId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks a non-terminal run <see cref="PluginRunStatus.Cancelled"/> and signals the workers
    /// (the cancel key and channel of the wire protocol), which stop its execution.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="reason">The reason stored as the run's error and sent to the workers (default <c>cancelled</c>).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when this call cancelled the run; <see langword="false"/> when it was unknown or already terminal.</returns>
    Task<bool> CancelAsync(Guid runId, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads the queue: how many runs wait to be published, wait for a worker and run (from the database, so every
    /// application instance sees the same), and the request stream's backlog for the workers' group (from Redis).
    /// </summary>
    /// <param name="runId">Optionally a waiting run: the result then says how many runs wait ahead of it.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The queue; its <see cref="PluginQueueState.Stream"/> is <see langword="null"/> while Redis is unreachable.</returns>
    Task<PluginQueueState> GetQueueAsync(Guid? runId = null, CancellationToken cancellationToken = default);
}
