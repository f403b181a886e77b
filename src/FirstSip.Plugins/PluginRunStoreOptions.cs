using System.ComponentModel.DataAnnotations;

namespace FirstSip.Plugins;

/// <summary>The database provider of the package's own (standalone) context.</summary>
public enum PluginRunStoreProvider
{
    /// <summary>SQLite through Microsoft.EntityFrameworkCore.Sqlite (the embedded default).</summary>
    Sqlite,

    /// <summary>PostgreSQL through Npgsql.EntityFrameworkCore.PostgreSQL.</summary>
    Npgsql,
}

/// <summary>Options of the plugin run store, its dispatcher, result consumer and reaper.</summary>
public class PluginRunStoreOptions
{
    /// <summary>Gets or sets the provider of the standalone context (ignored with the host's own context).</summary>
    /// <value>Default: <see cref="PluginRunStoreProvider.Sqlite"/>.</value>
    public PluginRunStoreProvider Provider { get; set; } = PluginRunStoreProvider.Sqlite;

    /// <summary>Gets or sets the connection string of the standalone context (ignored with the host's own context).</summary>
    /// <value>Default: <c>Data Source=firstsip-runs.db</c>.</value>
    public string? ConnectionString { get; set; } = "Data Source=firstsip-runs.db";

    /// <summary>Gets or sets the folder holding one sub-folder per plugin (<c>plugin.yaml</c>, <c>settings.schema.json</c>).</summary>
    /// <value>Default: <c>plugins</c> (relative to the current directory).</value>
    [Required]
    public string PluginDirectory { get; set; } = "plugins";

    /// <summary>
    /// Gets or sets the execution timeout (start to close) of runs whose plugin and request set none. It counts from the
    /// moment a worker starts the run, never from its creation or dispatch: time spent waiting in the queue is not charged to it.
    /// </summary>
    /// <value>Default: 5 minutes.</value>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Gets or sets the queue timeout (schedule to start) of runs whose plugin and request set none: a run that no worker
    /// started within it ends <c>timed_out</c> with a reason that says it never started, and no worker starts it afterwards.
    /// </summary>
    /// <value>Default: <see langword="null"/>, no queue timeout: a run waits its turn however long the queue is.</value>
    public TimeSpan? DefaultQueueTimeout { get; set; }

    /// <summary>
    /// Gets or sets the overall deadline of runs whose plugin and request set none, counted from the run's creation: a run
    /// not finished by then ends <c>timed_out</c>, and a worker stops an execution of it at that time.
    /// </summary>
    /// <value>Default: <see langword="null"/>, no overall deadline.</value>
    public TimeSpan? DefaultDeadline { get; set; }

    /// <summary>
    /// Gets or sets how long past its execution timeout the app still waits for a run's result before the reaper ends it
    /// <c>timed_out</c>. It lets the worker report its own timeout (with its details) first; the reaper is the backstop for
    /// workers that died or stalled. The backstop counts from the <c>started</c> event: start + timeout + this period.
    /// A completed result that arrives after the backstop ended the run is still applied.
    /// </summary>
    /// <value>Default: 30 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan DeadlineGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the number of attempts of runs whose request sets none (retryable failures start another attempt).</summary>
    /// <value>Default: 3.</value>
    [Range(1, 100)]
    public int DefaultMaxAttempts { get; set; } = 3;

    /// <summary>
    /// Gets or sets how long a request must stay missing before the reaper publishes it again. Each reaper cycle checks that the
    /// requests of dispatched and running runs are still in Redis; one missing from the stream, with no worker's lease and
    /// no finished marker, at two checks at least this far apart, is provably lost (Redis restarted without its data, or lost
    /// its last writes) and is published again as the same attempt. It must be longer than the sidecar's lease renewal
    /// (a third of <c>SIDECAR_CLAIM_TIMEOUT_SECONDS</c>), so a worker still running the run takes its lease back first.
    /// Waiting in the queue never publishes a run again.
    /// </summary>
    /// <value>Default: 1 minute.</value>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan LostRequestCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Gets or sets how many dispatches of one run may fail in a row (its secrets provider throws, or the publish fails while
    /// Redis is connected) before the run ends failed with the last reason. Each failure delays the next try by the retry backoff.
    /// </summary>
    /// <value>Default: 10.</value>
    [Range(1, 1000)]
    public int MaxDispatchFailures { get; set; } = 10;

    /// <summary>Gets or sets the delay before the second attempt of a retryable failure; it doubles with every further attempt up to <see cref="RetryMaxDelay"/>.</summary>
    /// <value>Default: 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the longest retry delay.</summary>
    /// <value>Default: 5 minutes.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the largest number of pending runs the dispatcher publishes in one batch.</summary>
    /// <value>Default: 100.</value>
    [Range(1, 10_000)]
    public int DispatchBatchSize { get; set; } = 100;

    /// <summary>Gets or sets how often the dispatcher looks for pending runs (a start in the same process wakes it at once).</summary>
    /// <value>Default: 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan DispatchInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets how often the reaper looks for runs past a time limit, lost requests and stop signals still owed to the workers.</summary>
    /// <value>Default: 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan ReaperInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how often <see cref="IPluginRunner.WatchAsync"/> and <see cref="IPluginRunner.WaitAsync"/> re-read the run, to see changes made by other processes.</summary>
    /// <value>Default: 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan WatchPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how long a watched run may stay <see cref="PluginRunStatus.Pending"/> in a process that runs no
    /// dispatcher (its host was never started) before <see cref="IPluginRunner.WatchAsync"/> and
    /// <see cref="IPluginRunner.WaitAsync"/> log a warning that says what to start. It is logged once per watch.
    /// </summary>
    /// <value>Default: 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan PendingWarningAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how long an idempotency key stays in force when the request sets no window.</summary>
    /// <value>Default: 30 minutes.</value>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan DefaultIdempotencyWindow { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Gets or sets the key that seals per-run secrets (AES-256-GCM): base64 of 32 bytes, the same value as the
    /// sidecar's <c>FIRSTSIP_SEAL_KEY</c>. Without it, a run whose secrets provider returns secrets fails instead of sending them in the clear.
    /// </summary>
    /// <value>Default: <see langword="null"/>.</value>
    public string? SealKey { get; set; }

    /// <summary>Configures the standalone context to use SQLite.</summary>
    /// <param name="connectionString">For example <c>Data Source=runs.db</c>.</param>
    /// <returns>These options.</returns>
    public PluginRunStoreOptions UseSqlite(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        Provider = PluginRunStoreProvider.Sqlite;
        ConnectionString = connectionString;
        return this;
    }

    /// <summary>Configures the standalone context to use PostgreSQL.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <returns>These options.</returns>
    public PluginRunStoreOptions UseNpgsql(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        Provider = PluginRunStoreProvider.Npgsql;
        ConnectionString = connectionString;
        return this;
    }
}
