using System.ComponentModel.DataAnnotations;
using StackExchange.Redis;

namespace FirstSip.Streams;

/// <summary>
/// Options of the FirstSip plugin streams: the Redis connection, stream and group names, and publishing limits.
/// </summary>
public class PluginStreamsOptions
{
    /// <summary>
    /// Gets or sets the Redis address: a StackExchange.Redis configuration string (for example
    /// <c>localhost:6379,ssl=true,user=app,password=...</c>) or a Redis URL as the sidecar takes it
    /// (<c>redis://[[user]:password@]host[:port][/db]</c>, <c>rediss://</c> for TLS).
    /// </summary>
    /// <value>
    /// <see langword="null"/> by default. One of <see cref="ConnectionString"/> and <see cref="Configuration"/> is required
    /// unless the host registers its own <see cref="IConnectionMultiplexer"/>.
    /// </value>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the StackExchange.Redis configuration, an alternative to <see cref="ConnectionString"/> (for certificate callbacks and the like).</summary>
    /// <value><see langword="null"/> by default.</value>
    public ConfigurationOptions? Configuration { get; set; }

    /// <summary>Gets or sets the request stream.</summary>
    /// <value><c>plugin:requests</c> by default.</value>
    [Required]
    public string RequestsStream { get; set; } = "plugin:requests";

    /// <summary>Gets or sets the result stream.</summary>
    /// <value><c>plugin:results</c> by default.</value>
    [Required]
    public string ResultsStream { get; set; } = "plugin:results";

    /// <summary>Gets or sets the progress event stream.</summary>
    /// <value><c>plugin:events</c> by default.</value>
    [Required]
    public string EventsStream { get; set; } = "plugin:events";

    /// <summary>Gets or sets the consumer group of the workers (reads requests).</summary>
    /// <value><c>crewai-workers</c> by default.</value>
    [Required]
    public string WorkerGroup { get; set; } = "crewai-workers";

    /// <summary>Gets or sets the consumer group of the application (reads results and events).</summary>
    /// <value><c>app-workers</c> by default.</value>
    [Required]
    public string AppGroup { get; set; } = "app-workers";

    /// <summary>Gets or sets the prefix of per-run keys (<c>{prefix}run:{id}:{suffix}</c>).</summary>
    /// <value><c>firstsip:</c> by default.</value>
    [Required]
    public string KeyPrefix { get; set; } = "firstsip:";

    /// <summary>Gets or sets the largest encoded payload a publisher sends and a reader accepts, in bytes.</summary>
    /// <value>1 MiB (1,048,576) by default.</value>
    [Range(1, 512 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 1_048_576;

    /// <summary>Gets or sets the most XADD commands <see cref="IStreamPublisher{T}.PublishManyAsync"/> keeps in flight.</summary>
    /// <value>1024 by default.</value>
    [Range(1, 100_000)]
    public int PublishMaxInFlight { get; set; } = 1024;

    /// <summary>
    /// Gets or sets how often the hosted trimmer trims the three plugin streams of acknowledged entries, and their
    /// dead-letter streams (<c>&lt;stream&gt;:dead</c>) of entries older than <see cref="DeadLetterRetention"/>.
    /// </summary>
    /// <value><see langword="null"/> by default: the periodic trimmer is off.</value>
    public TimeSpan? TrimInterval { get; set; }

    /// <summary>Gets or sets how long the hosted trimmer keeps dead-letter entries (only while <see cref="TrimInterval"/> is set).</summary>
    /// <value><see langword="null"/> by default: dead letters are kept until removed by hand.</value>
    public TimeSpan? DeadLetterRetention { get; set; }

    /// <summary>
    /// Gets or sets how long the hosted trimmer keeps progress events (only while <see cref="TrimInterval"/> is set): older ones
    /// are removed even if a group has not acknowledged them, since progress of a run that old is history, not work.
    /// </summary>
    /// <value><see langword="null"/> by default: events are trimmed only once acknowledged.</value>
    public TimeSpan? EventRetention { get; set; }
}
