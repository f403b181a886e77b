namespace FirstSip.Streams;

/// <summary>
/// The outcome of decoding a stream entry: a message, or a poison entry with the reason it cannot be processed.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1000:Do not declare static members on generic types", Justification = "Factory methods named like the outcomes read best at the call site: StreamDecodeResult<T>.Poison(reason).")]
public readonly struct StreamDecodeResult<T>
{
    private readonly string? _key;
    private readonly Guid? _runId;

    private StreamDecodeResult(T? message, string? poisonReason, string? key, Guid? runId = null)
    {
        Message = message;
        PoisonReason = poisonReason;
        _key = key;
        _runId = runId;
    }

    /// <summary>Gets a value indicating whether the entry is poison (cannot be decoded).</summary>
    public bool IsPoison => PoisonReason is not null;

    /// <summary>Gets the decoded message, or the default value for a poison entry.</summary>
    public T? Message { get; }

    /// <summary>Gets the reason the entry is poison, or <see langword="null"/> when it decoded.</summary>
    public string? PoisonReason { get; }

    /// <summary>Gets the entry's key when it was readable, for example the plugin run id text; otherwise <see langword="null"/>.</summary>
    /// <remarks>For plugin messages, the key lets a poison entry's run be failed with the reason.</remarks>
    public string? Key => _key ?? _runId?.ToString("D");

    /// <summary>Creates a successful result.</summary>
    /// <param name="message">The decoded message.</param>
    /// <returns>The result.</returns>
    public static StreamDecodeResult<T> Success(T message) => new(message, null, null);

    /// <summary>Creates a successful result that also carries the message's key.</summary>
    /// <param name="message">The decoded message.</param>
    /// <param name="key">The message's key, for example the plugin run id text.</param>
    /// <returns>The result.</returns>
    public static StreamDecodeResult<T> Success(T message, string? key) => new(message, null, key);

    /// <summary>A successful result whose key is a run id, formatted only when <see cref="Key"/> is read.</summary>
    internal static StreamDecodeResult<T> Success(T message, Guid runId) => new(message, null, null, runId);

    /// <summary>Creates a poison result.</summary>
    /// <param name="reason">Why the entry cannot be processed; it becomes the dead-letter reason.</param>
    /// <param name="key">The entry's key when it was readable.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException"><paramref name="reason"/> is null or empty.</exception>
    public static StreamDecodeResult<T> Poison(string reason, string? key = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new(default, reason, key);
    }
}
