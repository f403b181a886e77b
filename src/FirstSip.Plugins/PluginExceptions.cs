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

/// <summary>A wait on a run ended before the run did (<see cref="PluginRunnerExtensions.WaitAsync(IPluginRunner, Guid, TimeSpan, CancellationToken)"/>). The run goes on.</summary>
public sealed class PluginRunWaitTimeoutException : TimeoutException
{
    /// <summary>Initializes a new instance of the <see cref="PluginRunWaitTimeoutException"/> class.</summary>
    /// <param name="run">The run as it was when the wait ended.</param>
    /// <param name="timeout">How long the wait lasted.</param>
    /// <exception cref="ArgumentNullException"><paramref name="run"/> is null.</exception>
    public PluginRunWaitTimeoutException(PluginRun run, TimeSpan timeout)
        : base(BuildMessage(run, timeout))
    {
        Run = run;
        Timeout = timeout;
    }

    /// <summary>Gets the run as it was when the wait ended.</summary>
    public PluginRun Run { get; }

    /// <summary>Gets how long the wait lasted.</summary>
    public TimeSpan Timeout { get; }

    private static string BuildMessage(PluginRun run, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(run);
        var hint = run.Status switch
        {
            PluginRunStatus.Pending => ": it is still pending, so no process has published it (is the host started, and is Redis reachable?)",
            PluginRunStatus.Dispatched => ": it is on the request stream and no worker has started it (is a sidecar running?)",
            _ => string.Empty,
        };
        return $"run {run.RunId} did not end within {timeout.TotalSeconds:0.###} s (status {run.Status.ToWireString()}){hint}";
    }
}
