using FirstSip.Streams;
using FirstSip.Streams.Internal;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds consumer-group readers (hosted services) and publishers to the plugin streams.
/// </summary>
public static class PluginStreamsBuilderExtensions
{
    /// <summary>Adds a reader of the result stream (<see cref="PluginStreamsOptions.ResultsStream"/>, group <see cref="PluginStreamsOptions.AppGroup"/>).</summary>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Further configures the reader's options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <remarks>
    /// The reader's name, which also names its <see cref="StreamReaderOptions"/>, is <c>results:</c> followed by the
    /// handler type's full name. Calling this again for the same handler adds no second reader; its
    /// <paramref name="configure"/> is applied to the same options.
    /// </remarks>
    public static IPluginStreamsBuilder AddResultHandler<THandler>(this IPluginStreamsBuilder builder, Action<StreamReaderOptions>? configure = null)
        where THandler : class, IStreamMessageHandler<PluginResult>
        => builder.AddPluginReader<PluginResult, THandler>("results", static (o, p) => (p.ResultsStream, p.AppGroup), configure);

    /// <summary>Adds a reader of the progress event stream (<see cref="PluginStreamsOptions.EventsStream"/>, group <see cref="PluginStreamsOptions.AppGroup"/>).</summary>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Further configures the reader's options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <remarks>
    /// The reader's name, which also names its <see cref="StreamReaderOptions"/>, is <c>events:</c> followed by the
    /// handler type's full name. Calling this again for the same handler adds no second reader; its
    /// <paramref name="configure"/> is applied to the same options.
    /// </remarks>
    public static IPluginStreamsBuilder AddEventHandler<THandler>(this IPluginStreamsBuilder builder, Action<StreamReaderOptions>? configure = null)
        where THandler : class, IStreamMessageHandler<PluginEvent>
        => builder.AddPluginReader<PluginEvent, THandler>("events", static (o, p) => (p.EventsStream, p.AppGroup), configure);

    /// <summary>Adds a reader of the request stream (<see cref="PluginStreamsOptions.RequestsStream"/>, group <see cref="PluginStreamsOptions.WorkerGroup"/>).</summary>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Further configures the reader's options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <remarks>
    /// The reader's name, which also names its <see cref="StreamReaderOptions"/>, is <c>requests:</c> followed by the
    /// handler type's full name. Calling this again for the same handler adds no second reader; its
    /// <paramref name="configure"/> is applied to the same options.
    /// </remarks>
    public static IPluginStreamsBuilder AddRequestHandler<THandler>(this IPluginStreamsBuilder builder, Action<StreamReaderOptions>? configure = null)
        where THandler : class, IStreamMessageHandler<PluginRequest>
        => builder.AddPluginReader<PluginRequest, THandler>("requests", static (o, p) => (p.RequestsStream, p.WorkerGroup), configure);

    /// <summary>Adds a reader of any stream, decoding entries with the <see cref="IStreamEntryCodec{TMessage}"/> registered in the container.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The reader's name, which also names its <see cref="StreamReaderOptions"/>. Adding a name twice adds one reader.</param>
    /// <param name="configure">Configures the reader; <see cref="StreamReaderOptions.StreamName"/> and <see cref="StreamReaderOptions.GroupName"/> are required.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configure"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    public static IPluginStreamsBuilder AddStreamReader<TMessage, THandler>(this IPluginStreamsBuilder builder, string name, Action<StreamReaderOptions> configure)
        where THandler : class, IStreamMessageHandler<TMessage>
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<StreamReaderOptions>(name).Configure(configure);
        AddReader<TMessage, THandler>(builder.Services, name);
        return builder;
    }

    /// <summary>Adds an <see cref="IStreamPublisher{TMessage}"/> for a stream, using the <see cref="IStreamEntryCodec{TMessage}"/> registered in the container.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="streamName">The stream. The publisher is registered keyed by this name, and unkeyed if no other publisher of <typeparamref name="TMessage"/> is.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="streamName"/> is null or empty.</exception>
    public static IPluginStreamsBuilder AddStreamPublisher<TMessage>(this IPluginStreamsBuilder builder, string streamName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(streamName);
        builder.Services.TryAddKeyedSingleton<IStreamPublisher<TMessage>>(streamName, (sp, _) => PluginStreamsServiceCollectionExtensions.CreatePublisher<TMessage>(sp, streamName));
        builder.Services.TryAddSingleton<IStreamPublisher<TMessage>>(sp => sp.GetRequiredKeyedService<IStreamPublisher<TMessage>>(streamName));
        return builder;
    }

    private static IPluginStreamsBuilder AddPluginReader<TMessage, THandler>(
        this IPluginStreamsBuilder builder,
        string kind,
        Func<StreamReaderOptions, PluginStreamsOptions, (string Stream, string Group)> names,
        Action<StreamReaderOptions>? configure)
        where THandler : class, IStreamMessageHandler<TMessage>
    {
        ArgumentNullException.ThrowIfNull(builder);
        var name = kind + ":" + typeof(THandler).FullName;
        var options = builder.Services.AddOptions<StreamReaderOptions>(name);
        if (!IsReaderAdded(builder.Services, name))
        {
            options.Configure<IOptions<PluginStreamsOptions>>((o, p) => (o.StreamName, o.GroupName) = names(o, p.Value));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        AddReader<TMessage, THandler>(builder.Services, name);
        return builder;
    }

    private static bool IsReaderAdded(IServiceCollection services, string name)
        => PluginStreamsServiceCollectionExtensions.GetOrAddMarker(services, out _).ReaderNames.Contains(name);

    private static void AddReader<TMessage, THandler>(IServiceCollection services, string name)
        where THandler : class, IStreamMessageHandler<TMessage>
    {
        services.AddPluginStreams();
        var marker = PluginStreamsServiceCollectionExtensions.GetOrAddMarker(services, out _);
        if (!marker.ReaderNames.Add(name))
        {
            return;
        }

        services.TryAddScoped<THandler>();
        services.AddOptions<StreamReaderOptions>(name).ValidateOnStart();
        services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<StreamReaderService<TMessage, THandler>>(sp, name));
    }
}
