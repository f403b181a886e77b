using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NJsonSchema.Validation;

namespace FirstSip.Plugins.Internal.Catalog;

/// <summary>The plugin folders under <see cref="PluginRunStoreOptions.PluginDirectory"/>, loaded once on first use.</summary>
internal sealed class PluginCatalog : IPluginCatalog
{
    private readonly Lazy<Contents> _contents;
    private readonly ILogger _logger;

    public PluginCatalog(IOptions<PluginRunStoreOptions> options, ILogger<PluginCatalog> logger)
    {
        _logger = logger;
        var directory = options.Value.PluginDirectory;
        _contents = new Lazy<Contents>(() => Load(directory), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public IReadOnlyList<PluginDescriptor> GetPlugins() => _contents.Value.Ordered;

    public PluginDescriptor? GetPlugin(string name) => Find(name)?.Descriptor;

    public PluginSettingsValidation ValidateSettings(string name, JsonObject? settings)
    {
        var plugin = Find(name) ?? throw new UnknownPluginException(name);
        var merged = new JsonObject();
        foreach (var (key, value) in plugin.Descriptor.DefaultConfig)
        {
            merged[key] = value?.DeepClone();
        }

        if (settings is not null)
        {
            foreach (var (key, value) in settings)
            {
                merged[key] = value?.DeepClone();
            }
        }

        var errors = new List<PluginSettingsError>();
        foreach (var error in plugin.Schema.Validate(merged.ToJsonString()))
        {
            Flatten(error, errors);
        }

        var distinct = errors.Distinct().OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
        return new PluginSettingsValidation(merged, distinct);
    }

    internal LoadedPlugin? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var contents = _contents.Value;
        if (contents.Broken.TryGetValue(name, out var problem))
        {
            throw problem;
        }

        return contents.Plugins.GetValueOrDefault(name);
    }

    private Contents Load(string directory)
    {
        var plugins = new Dictionary<string, LoadedPlugin>(StringComparer.Ordinal);
        var broken = new Dictionary<string, PluginManifestException>(StringComparer.Ordinal);
        if (!Directory.Exists(directory))
        {
            var missing = Path.GetFullPath(directory);
            _logger.PluginDirectoryMissing(missing);
            return new Contents(plugins, broken);
        }

        foreach (var folder in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            if (!File.Exists(Path.Combine(folder, PluginManifestReader.ManifestFileName)))
            {
                continue;
            }

            try
            {
                var plugin = PluginManifestReader.Load(folder);
                plugins[plugin.Descriptor.Name] = plugin;
                foreach (var warning in plugin.Descriptor.Warnings)
                {
                    _logger.PluginManifestWarning(plugin.Descriptor.Name, warning);
                }
            }
            catch (PluginManifestException ex)
            {
                _logger.PluginManifestInvalid(ex.PluginName, ex.Problem);
                broken[ex.PluginName] = ex;
            }
            catch (IOException ex)
            {
                var name = Path.GetFileName(folder);
                _logger.PluginManifestInvalid(name, ex.Message);
                broken[name] = new PluginManifestException(name, ex.Message);
            }
        }

        var fullPath = Path.GetFullPath(directory);
        _logger.PluginCatalogLoaded(plugins.Count, fullPath);
        return new Contents(plugins, broken);
    }

    private static void Flatten(ValidationError error, List<PluginSettingsError> into)
    {
        if (error is ChildSchemaValidationError child && child.Errors.Count > 0)
        {
            var nested = child.Errors.SelectMany(e => e.Value).ToList();
            if (nested.Count > 0)
            {
                foreach (var e in nested)
                {
                    Flatten(e, into);
                }

                return;
            }
        }

        into.Add(new PluginSettingsError(SettingsErrorText.Path(error), SettingsErrorText.Message(error)));
    }

    private sealed class Contents(Dictionary<string, LoadedPlugin> plugins, Dictionary<string, PluginManifestException> broken)
    {
        public Dictionary<string, LoadedPlugin> Plugins { get; } = plugins;

        public Dictionary<string, PluginManifestException> Broken { get; } = broken;

        public IReadOnlyList<PluginDescriptor> Ordered { get; } =
            plugins.Values.Select(p => p.Descriptor).OrderBy(d => d.Name, StringComparer.Ordinal).ToList();
    }
}
