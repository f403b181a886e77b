using Microsoft.Extensions.DependencyInjection;

namespace FirstSip.Plugins;

/// <summary>Returned by <c>AddPluginRunStore</c> to chain further registrations (<c>AddCompletionHandler</c>, <c>AddSecretsProvider</c>).</summary>
public interface IPluginRunStoreBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }
}
