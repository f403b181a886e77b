namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <c>AddPluginStreams</c> to chain readers, handlers and publishers.
/// </summary>
public interface IPluginStreamsBuilder
{
    /// <summary>Gets the service collection the streams are registered in.</summary>
    IServiceCollection Services { get; }
}
