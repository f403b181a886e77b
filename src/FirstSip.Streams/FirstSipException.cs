namespace FirstSip.Streams;

/// <summary>
/// The base type of the exceptions FirstSip packages throw for their own failures.
/// </summary>
/// <remarks>Catch this type to handle every FirstSip failure at once; the derived types carry the details.</remarks>
public class FirstSipException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="FirstSipException"/> class.</summary>
    public FirstSipException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="FirstSipException"/> class with a message.</summary>
    /// <param name="message">The message that describes the failure.</param>
    public FirstSipException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="FirstSipException"/> class with a message and a cause.</summary>
    /// <param name="message">The message that describes the failure.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public FirstSipException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
