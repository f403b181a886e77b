using System.Diagnostics.Metrics;
using FirstSip.Streams;
using FirstSip.Streams.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers FirstSip plugin streams: the Redis connection, publishers, codecs, trimmer, metrics and option validation.
/// </summary>
public static class PluginStreamsServiceCollectionExtensions
{
    /// <summary>Adds the plugin streams with options configured elsewhere (for example bound by the host).</summary>
    /// <param name="services">The service collection.</param>
    /// <returns>A builder to add readers, handlers and publishers.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <remarks>
    /// Registers with TryAdd, so calling it again is harmless and the host may override any default:
    /// <see cref="TimeProvider.System"/>; an <see cref="IConnectionMultiplexer"/> connected lazily from
    /// <see cref="PluginStreamsOptions"/> with <c>AbortOnConnectFail = false</c> (a multiplexer the host registers is
    /// used instead); <see cref="IStreamPublisher{T}"/> for <see cref="PluginRequest"/>, <see cref="PluginResult"/>
    /// and <see cref="PluginEvent"/>; the codecs; <see cref="IStreamTrimmer"/>; <see cref="IStreamOperations"/> and the hosted
    /// consumer sweeper (<see cref="StreamOperationsOptions"/>); metrics; options validated at start.
    /// </remarks>
    public static IPluginStreamsBuilder AddPluginStreams(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        GetOrAddMarker(services, out var added);
        if (!added)
        {
            return new PluginStreamsBuilder(services);
        }

        services.AddOptionsWithValidateOnStart<PluginStreamsOptions, PluginStreamsOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PluginStreamsOptions>, PluginStreamsOptionsCustomValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StreamReaderOptions>, StreamReaderOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StreamReaderOptions>, StreamReaderOptionsCustomValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(StreamsConnections.SharedFactory);
        services.TryAddSingleton<ReaderRegistry>();
        services.TryAddSingleton(static sp => new StreamsMetrics(sp.GetRequiredService<ReaderRegistry>(), sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IStreamEntryCodec<PluginRequest>>(PluginRequestCodec.Instance);
        services.TryAddSingleton<IStreamEntryCodec<PluginResult>>(PluginResultCodec.Instance);
        services.TryAddSingleton<IStreamEntryCodec<PluginEvent>>(PluginEventCodec.Instance);
        services.TryAddSingleton<IStreamPublisher<PluginRequest>>(static sp => CreatePublisher<PluginRequest>(sp, sp.GetRequiredService<IOptions<PluginStreamsOptions>>().Value.RequestsStream));
        services.TryAddSingleton<IStreamPublisher<PluginResult>>(static sp => CreatePublisher<PluginResult>(sp, sp.GetRequiredService<IOptions<PluginStreamsOptions>>().Value.ResultsStream));
        services.TryAddSingleton<IStreamPublisher<PluginEvent>>(static sp => CreatePublisher<PluginEvent>(sp, sp.GetRequiredService<IOptions<PluginStreamsOptions>>().Value.EventsStream));
        services.TryAddSingleton<IStreamTrimmer, StreamTrimmer>();
        services.AddHostedService<PeriodicStreamTrimmer>();
        OperationsRegistration.Add(services);
        return new PluginStreamsBuilder(services);
    }

    /// <summary>Adds the plugin streams and configures their options.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>A builder to add readers, handlers and publishers.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    public static IPluginStreamsBuilder AddPluginStreams(this IServiceCollection services, Action<PluginStreamsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddPluginStreams();
        services.Configure(configure);
        return builder;
    }

    /// <summary>Adds the plugin streams and binds their options to a configuration section.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="section">The section, for example <c>Configuration.GetSection("FirstSip:Streams")</c>.</param>
    /// <returns>A builder to add readers, handlers and publishers.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="section"/> is null.</exception>
    public static IPluginStreamsBuilder AddPluginStreams(this IServiceCollection services, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        var builder = services.AddPluginStreams();
        services.Configure<PluginStreamsOptions>(section);
        return builder;
    }

    internal static StreamPublisher<T> CreatePublisher<T>(IServiceProvider services, string streamName)
        => new(
            streamName,
            services.GetRequiredService<IConnectionMultiplexer>(),
            services.GetRequiredService<IStreamEntryCodec<T>>(),
            services.GetRequiredService<IOptions<PluginStreamsOptions>>(),
            services.GetRequiredService<StreamsMetrics>(),
            services.GetRequiredService<ILogger<StreamPublisher<T>>>(),
            services.GetRequiredService<TimeProvider>());

    internal static PluginStreamsMarker GetOrAddMarker(IServiceCollection services, out bool added)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(PluginStreamsMarker) && descriptor.ImplementationInstance is PluginStreamsMarker existing)
            {
                added = false;
                return existing;
            }
        }

        var marker = new PluginStreamsMarker(services);
        services.AddSingleton(marker);
        added = true;
        return marker;
    }

    private sealed class PluginStreamsBuilder(IServiceCollection services) : IPluginStreamsBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
