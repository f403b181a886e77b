namespace FirstSip.Streams;

/// <summary>
/// Handles the messages a consumer-group reader delivers. Resolved from a new DI scope for each message.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
public interface IStreamMessageHandler<T>
{
    /// <summary>Handles one message.</summary>
    /// <param name="message">The message and its delivery details.</param>
    /// <param name="cancellationToken">Cancelled when the reader stops and the shutdown grace period has passed.</param>
    /// <returns>A task that completes when the message's effect is durable.</returns>
    /// <remarks>
    /// Returning acknowledges the entry. Throwing leaves it pending: it is delivered again after the claim timeout,
    /// and dead-lettered once it has been delivered more than <see cref="StreamReaderOptions.MaxDeliveries"/> times.
    /// Delivery is at least once: make the effect idempotent.
    /// </remarks>
    Task HandleAsync(StreamMessage<T> message, CancellationToken cancellationToken);

    /// <summary>Called before an entry is moved to the dead-letter stream (poison, or too many deliveries).</summary>
    /// <param name="entry">The entry and the reason.</param>
    /// <param name="cancellationToken">Cancelled when the reader stops and the shutdown grace period has passed.</param>
    /// <returns>A task that completes when the handler has recorded the failure.</returns>
    /// <remarks>
    /// Runs before the MULTI that adds the dead-letter entry and acknowledges the original. If it throws, nothing
    /// is acknowledged and the entry comes back later.
    /// </remarks>
    Task OnDeadLetteredAsync(DeadLetteredEntry entry, CancellationToken cancellationToken) => Task.CompletedTask;
}
