using System.Text.Json.Nodes;

namespace FirstSip.Plugins;

/// <summary>
/// The plugins found in <see cref="PluginRunStoreOptions.PluginDirectory"/>: one folder per plugin with
/// <c>plugin.yaml</c> and <c>settings.schema.json</c>. Registered as a singleton by <c>AddPluginRunStore</c>.
/// </summary>
public interface IPluginCatalog
{
    /// <summary>Lists the plugins whose manifests are valid, ordered by name.</summary>
    /// <returns>The plugins.</returns>
    IReadOnlyList<PluginDescriptor> GetPlugins();

    /// <summary>Finds a plugin by name (names are looked up, never used as paths).</summary>
    /// <param name="name">The plugin's name.</param>
    /// <returns>The plugin, or <see langword="null"/> when there is none with that name.</returns>
    /// <exception cref="PluginManifestException">The plugin's folder exists but its manifest or schema is invalid.</exception>
    PluginDescriptor? GetPlugin(string name);

    /// <summary>
    /// Applies the plugin's <c>default_config</c> under <paramref name="settings"/> (shallow; the given keys win)
    /// and validates the result against the plugin's settings schema.
    /// </summary>
    /// <param name="name">The plugin's name.</param>
    /// <param name="settings">The run's settings, or <see langword="null"/> for defaults only.</param>
    /// <returns>The merged settings and every validation error (empty when valid).</returns>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    PluginSettingsValidation ValidateSettings(string name, JsonObject? settings);
}

/// <summary>A plugin as its <c>plugin.yaml</c> describes it.</summary>
public sealed record PluginDescriptor
{
    /// <summary>Gets the name (equal to the folder name).</summary>
    public required string Name { get; init; }

    /// <summary>Gets the description.</summary>
    public string Description { get; init; } = "";

    /// <summary>Gets the plugin's version text.</summary>
    public string Version { get; init; } = "";

    /// <summary>Gets the runtime: <c>python</c> or <c>crewai</c>.</summary>
    public required string Runtime { get; init; }

    /// <summary>Gets the entry point the sidecar loads.</summary>
    public string Entry { get; init; } = "";

    /// <summary>Gets the plugin's own execution timeout, when its manifest sets one.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Gets the plugin's own queue timeout (<c>queue_timeout_seconds</c>), when its manifest sets one.</summary>
    public TimeSpan? QueueTimeout { get; init; }

    /// <summary>Gets the plugin's own overall deadline, counted from a run's creation (<c>deadline_seconds</c>), when its manifest sets one.</summary>
    public TimeSpan? Deadline { get; init; }

    /// <summary>Gets the names of the sidecar's environment variables the plugin's process receives besides the allowlisted ones (<c>env</c>).</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    /// <summary>Gets how the sidecar isolates the plugin's runs (<c>isolation</c>).</summary>
    /// <value>
    /// <c>pool</c> (the default: a pre-started pooled process serves the plugin's runs one after another) or
    /// <c>process</c> (a fresh process for every run, for code that leaks state between runs).
    /// </value>
    public string Isolation { get; init; } = "pool";

    /// <summary>Gets the capabilities the manifest lists.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];

    /// <summary>Gets the default settings (merged under each run's settings).</summary>
    public JsonObject DefaultConfig { get; init; } = [];

    /// <summary>Gets the settings schema (JSON Schema draft-07) as JSON text.</summary>
    public string SettingsSchemaJson { get; init; } = "{}";

    /// <summary>
    /// Gets the manifest's keys FirstSip does not use, as they are: presentation and ownership keys such as <c>owner</c>,
    /// <c>icon</c>, <c>tile_size</c> and <c>display_order</c> (the original system's), and any other key. Hosts may show them.
    /// </summary>
    public JsonObject Metadata { get; init; } = [];

    /// <summary>
    /// Gets problems that do not keep the plugin out of the catalog, for example an unknown key that looks like a misspelt
    /// known one (<c>timeout_second</c>); each is also logged when the catalog loads.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>One failing settings path.</summary>
/// <param name="Path">Where in the settings the error is (for example <c>topics[1]</c>; empty for the settings object itself).</param>
/// <param name="Message">What is wrong there.</param>
public sealed record PluginSettingsError(string Path, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Path.Length == 0 ? Message : $"{Path}: {Message}";
}

/// <summary>The outcome of <see cref="IPluginCatalog.ValidateSettings"/>.</summary>
/// <param name="Settings">The settings after the plugin's defaults were merged under the given ones.</param>
/// <param name="Errors">Every validation error; empty when the settings are valid.</param>
public sealed record PluginSettingsValidation(JsonObject Settings, IReadOnlyList<PluginSettingsError> Errors)
{
    /// <summary>Gets whether the settings are valid.</summary>
    public bool IsValid => Errors.Count == 0;
}
