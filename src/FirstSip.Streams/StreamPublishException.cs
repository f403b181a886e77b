namespace FirstSip.Streams;

/// <summary>
/// Thrown when a message could not be added to a stream because Redis failed or could not be reached.
/// The Redis exception is the <see cref="Exception.InnerException"/>.
/// </summary>
public sealed class StreamPublishException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="StreamPublishException"/> class.</summary>
    public StreamPublishException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="StreamPublishException"/> class with a message.</summary>
    /// <param name="message">The message that describes the failure.</param>
    public StreamPublishException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="StreamPublishException"/> class with a message and a cause.</summary>
    /// <param name="message">The message that describes the failure.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public StreamPublishException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="StreamPublishException"/> class for a stream.</summary>
    /// <param name="message">The message that describes the failure.</param>
    /// <param name="streamName">The stream the message was meant for.</param>
    /// <param name="innerException">The Redis failure.</param>
    public StreamPublishException(string? message, string? streamName, Exception? innerException)
        : base(message, innerException)
    {
        StreamName = streamName;
    }

    /// <summary>Wraps a Redis failure for a stream.</summary>
    internal static StreamPublishException For(string streamName, Exception innerException)
        => new($"Publishing to stream '{streamName}' failed: {innerException.Message}", streamName, innerException);

    /// <summary>Gets the stream the message was meant for.</summary>
    public string? StreamName { get; }
}
