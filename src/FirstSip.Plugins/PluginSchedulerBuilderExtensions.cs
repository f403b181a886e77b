using FirstSip.Plugins;
using FirstSip.Plugins.Internal.Schedules;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Configures the plugin schedules that <c>AddPluginRunStore</c> registers: <see cref="IPluginScheduler"/> (scoped) and
/// the hosted scheduler that fires due schedules.
/// </summary>
public static class PluginSchedulerBuilderExtensions
{
    /// <summary>Configures the hosted scheduler (poll interval, batch size, misfire threshold, or off in this process).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IPluginRunStoreBuilder ConfigureScheduler(this IPluginRunStoreBuilder builder, Action<PluginSchedulerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>Registers the schedules API and the hosted scheduler (called once by <c>AddPluginRunStore</c>).</summary>
    internal static void AddSchedulerCore(IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<PluginSchedulerOptions, PluginSchedulerOptionsValidator>();
        services.TryAddSingleton(static sp => new PluginSchedulesMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddScoped<IPluginScheduler, PluginScheduler>();
        services.TryAddSingleton<ScheduleFirer>();
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<ScheduleFirer>());
    }
}
