using FirstSip.Streams;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures the operations side of the plugin streams: the hosted consumer sweeper.</summary>
public static class PluginStreamsOperationsBuilderExtensions
{
    /// <summary>Configures <see cref="StreamOperationsOptions"/> (how often and after how much idle time stale consumers are removed).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configure"/> is null.</exception>
    public static IPluginStreamsBuilder ConfigureOperations(this IPluginStreamsBuilder builder, Action<StreamOperationsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
