using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FirstSip.Streams.Internal;

/// <summary>The operations API and the consumer sweeper, registered by <c>AddPluginStreams</c>.</summary>
internal static class OperationsRegistration
{
    public static void Add(IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<StreamOperationsOptions, StreamOperationsOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StreamOperationsOptions>, StreamOperationsOptionsCustomValidator>());
        services.TryAddSingleton<IStreamOperations, StreamOperations>();
        services.AddHostedService<StaleConsumerSweeper>();
    }
}
