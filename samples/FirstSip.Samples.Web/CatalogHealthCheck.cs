using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FirstSip.Samples.Web;

/// <summary>Not ready while the plugin catalog is empty: the host could start no run, and says why.</summary>
internal sealed class CatalogHealthCheck(IPluginCatalog catalog, SampleSettings settings) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var count = catalog.GetPlugins().Count;
        var data = new Dictionary<string, object> { ["plugin_directory"] = settings.Plugins, ["plugins"] = count };
        return Task.FromResult(count > 0
            ? HealthCheckResult.Healthy($"{count} plugins in {settings.Plugins}", data)
            : new HealthCheckResult(context.Registration.FailureStatus, CatalogState.Explain(settings.Plugins, count), data: data));
    }
}

/// <summary>The catalog as the page reports it: where the plugins are read from, how many there are, and what is wrong.</summary>
internal sealed record CatalogState(string PluginDirectory, int Plugins, string? Problem)
{
    public static CatalogState Read(IPluginCatalog catalog, SampleSettings settings)
    {
        var count = catalog.GetPlugins().Count;
        return new CatalogState(settings.Plugins, count, Explain(settings.Plugins, count));
    }

    public static string? Explain(string directory, int count) => count > 0
        ? null
        : (Directory.Exists(directory)
              ? $"The plugin folder {directory} holds no plugin (a folder with a plugin.yaml)."
              : $"The plugin folder {directory} does not exist.")
          + " Set FIRSTSIP_PLUGINS (or FirstSip:Plugins in appsettings.json) to the folder with the plugins, such as the repository's plugins/, and restart the host.";
}
