using System.Globalization;

namespace FirstSip.Streams;

/// <summary>
/// Thrown when an encoded message is larger than <see cref="PluginStreamsOptions.MaxPayloadBytes"/>.
/// Nothing is sent to Redis when this is thrown.
/// </summary>
public sealed class PayloadTooLargeException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="PayloadTooLargeException"/> class.</summary>
    public PayloadTooLargeException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="PayloadTooLargeException"/> class with a message.</summary>
    /// <param name="message">The message that describes the failure.</param>
    public PayloadTooLargeException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="PayloadTooLargeException"/> class with a message and a cause.</summary>
    /// <param name="message">The message that describes the failure.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public PayloadTooLargeException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="PayloadTooLargeException"/> class for a payload and a limit.</summary>
    /// <param name="payloadBytes">The size of the encoded payload, in bytes.</param>
    /// <param name="limitBytes">The largest payload allowed, in bytes.</param>
    public PayloadTooLargeException(long payloadBytes, long limitBytes)
        : base(Describe(payloadBytes, limitBytes))
    {
        PayloadBytes = payloadBytes;
        LimitBytes = limitBytes;
    }

    /// <summary>Gets the size of the encoded payload, in bytes.</summary>
    public long PayloadBytes { get; }

    /// <summary>Gets the largest payload allowed, in bytes.</summary>
    public long LimitBytes { get; }

    /// <summary>Builds the poison reason and exception message for an oversize payload.</summary>
    internal static string Describe(long payloadBytes, long limitBytes)
        => string.Create(CultureInfo.InvariantCulture, $"payload too large ({payloadBytes} bytes, limit {limitBytes})");
}
