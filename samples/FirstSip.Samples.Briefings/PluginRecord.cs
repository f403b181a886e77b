using System.Text.Json.Nodes;
using FirstSip.Plugins;

namespace FirstSip.Samples.Briefings;

/// <summary>A catalog entry as the sample hosts print and serve it.</summary>
public sealed record PluginRecord
{
    /// <summary>Gets the plugin's name.</summary>
    public required string Name { get; init; }

    /// <summary>Gets the one-line description.</summary>
    public required string Description { get; init; }

    /// <summary>Gets the plugin's version.</summary>
    public required string Version { get; init; }

    /// <summary>Gets the runtime (<c>python</c> or <c>crewai</c>).</summary>
    public required string Runtime { get; init; }

    /// <summary>Gets the execution timeout in seconds, when the plugin sets one.</summary>
    public double? TimeoutSeconds { get; init; }

    /// <summary>Gets the plugin's capabilities.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];

    /// <summary>Gets the defaults applied under the run's settings.</summary>
    public JsonObject? DefaultConfig { get; init; }

    /// <summary>Gets the settings' JSON schema.</summary>
    public JsonNode? SettingsSchema { get; init; }

    /// <summary>Gets the manifest's other keys (the original system's <c>owner</c>, <c>icon</c>, <c>tile_size</c>, ...).</summary>
    public JsonObject? Metadata { get; init; }

    /// <summary>Gets a one-line summary of each setting, in schema order.</summary>
    public IReadOnlyList<SettingSummary> Settings { get; init; } = [];

    /// <summary>Creates the record of a catalog entry.</summary>
    /// <param name="plugin">The catalog entry.</param>
    /// <returns>The record.</returns>
    public static PluginRecord From(PluginDescriptor plugin)
    {
        ArgumentNullException.ThrowIfNull(plugin);
        var schema = JsonNode.Parse(plugin.SettingsSchemaJson);
        var required = (schema?["required"] as JsonArray)?.Select(n => n?.GetValue<string>()).ToHashSet() ?? [];
        var settings = new List<SettingSummary>();
        if (schema?["properties"] is JsonObject properties)
        {
            foreach (var (name, property) in properties)
            {
                var type = property?["enum"] is JsonArray values
                    ? string.Join('|', values.Select(v => v?.ToJsonString()))
                    : property?["type"]?.ToJsonString().Trim('"') ?? "any";
                var fallback = plugin.DefaultConfig[name] ?? property?["default"];
                settings.Add(new SettingSummary(name, type, required.Contains(name), fallback?.ToJsonString()));
            }
        }

        return new PluginRecord
        {
            Name = plugin.Name,
            Description = plugin.Description,
            Version = plugin.Version,
            Runtime = plugin.Runtime,
            TimeoutSeconds = plugin.Timeout?.TotalSeconds,
            Capabilities = plugin.Capabilities,
            DefaultConfig = plugin.DefaultConfig.DeepClone().AsObject(),
            SettingsSchema = schema,
            Metadata = plugin.Metadata.DeepClone().AsObject(),
            Settings = settings,
        };
    }
}

/// <summary>One setting of a plugin.</summary>
/// <param name="Name">The setting's name.</param>
/// <param name="Type">Its JSON type, or the allowed values.</param>
/// <param name="Required">Whether a run must give it.</param>
/// <param name="Default">Its default as JSON, when it has one.</param>
public sealed record SettingSummary(string Name, string Type, bool Required, string? Default);
