using FirstSip.Streams;

namespace FirstSip.Plugins;

/// <summary>A run was started for a plugin that is not in the catalog. Nothing was written.</summary>
public sealed class UnknownPluginException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="UnknownPluginException"/> class.</summary>
    /// <param name="pluginName">The unknown name.</param>
    public UnknownPluginException(string pluginName)
        : base($"unknown plugin: {pluginName}")
    {
        PluginName = pluginName;
    }

    /// <summary>Gets the unknown name.</summary>
    public string PluginName { get; }
}

/// <summary>A run was started with settings that fail the plugin's settings schema. Nothing was written.</summary>
public sealed class InvalidPluginSettingsException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="InvalidPluginSettingsException"/> class.</summary>
    /// <param name="pluginName">The plugin.</param>
    /// <param name="errors">Every failing settings path.</param>
    public InvalidPluginSettingsException(string pluginName, IReadOnlyList<PluginSettingsError> errors)
        : base(BuildMessage(pluginName, errors))
    {
        PluginName = pluginName;
        Errors = errors;
    }

    /// <summary>Gets the plugin's name.</summary>
    public string PluginName { get; }

    /// <summary>Gets every failing settings path with its message.</summary>
    public IReadOnlyList<PluginSettingsError> Errors { get; }

    private static string BuildMessage(string pluginName, IReadOnlyList<PluginSettingsError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return $"invalid settings for plugin {pluginName}: {string.Join("; ", errors)}";
    }
}

/// <summary>A plugin folder holds a <c>plugin.yaml</c> or <c>settings.schema.json</c> that cannot be used.</summary>
public sealed class PluginManifestException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="PluginManifestException"/> class.</summary>
    /// <param name="pluginName">The plugin folder's name.</param>
    /// <param name="problem">What is wrong, naming the file and key.</param>
    public PluginManifestException(string pluginName, string problem)
        : base($"plugin {pluginName}: {problem}")
    {
        PluginName = pluginName;
        Problem = problem;
    }

    /// <summary>Gets the plugin folder's name.</summary>
    public string PluginName { get; }

    /// <summary>Gets what is wrong.</summary>
    public string Problem { get; }
}

/// <summary>
/// A run was started with secrets (per-run <see cref="StartPluginRunRequest.Secrets"/>, or credentials given as <c>_</c>
/// settings such as <c>_llm_api_key</c>) but no <see cref="PluginRunStoreOptions.SealKey"/> is configured, so they cannot be
/// stored or sent sealed. Nothing was written.
/// </summary>
public sealed class PluginSecretsException : FirstSipException
{
    /// <summary>Initializes a new instance of the <see cref="PluginSecretsException"/> class.</summary>
    /// <param name="pluginName">The plugin.</param>
    /// <param name="problem">What is wrong (never a secret's value).</param>
    public PluginSecretsException(string pluginName, string problem)
        : base($"plugin {pluginName}: {problem}")
    {
        PluginName = pluginName;
        Problem = problem;
    }

    /// <summary>Gets the plugin's name.</summary>
    public string PluginName { get; }

    /// <summary>Gets what is wrong.</summary>
    public string Problem { get; }
}
