using System.Text.Json.Nodes;

namespace FirstSip.Plugins;

/// <summary>What <see cref="IPluginRunner.StartAsync"/> runs.</summary>
public sealed class StartPluginRunRequest
{
    /// <summary>Gets the plugin's name in the catalog.</summary>
    public required string PluginName { get; init; }

    /// <summary>Gets the id of the user the run is for (a canonical integer goes on the wire as a JSON number).</summary>
    public required string UserId { get; init; }

    /// <summary>Gets the run's settings. The plugin's <c>default_config</c> is merged under them (the run's keys win), then the result is validated against the plugin's settings schema.</summary>
    /// <value>Default: <see langword="null"/> (only the defaults).</value>
    public JsonObject? Settings { get; init; }

    /// <summary>
    /// Gets the run's own secrets, for example an API key the user just typed: names and values the plugin receives in
    /// <c>context.secrets</c> (and a crew as its LLM or search credentials, see docs/coming-from-the-original.md). They are
    /// sealed with <see cref="PluginRunStoreOptions.SealKey"/> when the run starts, stored only sealed, and sent sealed,
    /// merged over what an <see cref="IPluginSecretsProvider"/> returns for the run.
    /// </summary>
    /// <value>Default: <see langword="null"/> (none).</value>
    /// <remarks>
    /// Settings keys that start with <c>_</c> and that the plugin's schema does not declare (the original system's
    /// <c>_llm_api_key</c>, <c>_tavily_api_key</c>) are treated the same way: moved out of the settings into these secrets.
    /// Without a seal key, a start with secrets throws <see cref="PluginSecretsException"/>.
    /// </remarks>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }

    /// <summary>Gets an optional idempotency key: a start with the same plugin, user and key inside the window returns the existing run.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Gets how long an idempotency key stays in force.</summary>
    /// <value>Default: <see langword="null"/>, meaning 30 minutes.</value>
    public TimeSpan? IdempotencyWindow { get; init; }

    /// <summary>Gets the execution timeout (start to close), counted from the moment a worker starts the run.</summary>
    /// <value>Default: <see langword="null"/>, meaning the plugin's <c>timeout_seconds</c>, else <see cref="PluginRunStoreOptions.DefaultTimeout"/>.</value>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Gets the queue timeout (schedule to start): how long the run may wait for a worker before it ends <c>timed_out</c> without starting.</summary>
    /// <value>Default: <see langword="null"/>, meaning the plugin's <c>queue_timeout_seconds</c>, else <see cref="PluginRunStoreOptions.DefaultQueueTimeout"/> (none by default).</value>
    public TimeSpan? QueueTimeout { get; init; }

    /// <summary>Gets the run's overall deadline: a run not finished by then ends <c>timed_out</c>, and its execution is stopped.</summary>
    /// <value>Default: <see langword="null"/>, meaning creation time plus the plugin's <c>deadline_seconds</c>, else plus <see cref="PluginRunStoreOptions.DefaultDeadline"/> (none by default).</value>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Gets the number of attempts for retryable failures.</summary>
    /// <value>Default: <see langword="null"/>, meaning <see cref="PluginRunStoreOptions.DefaultMaxAttempts"/>.</value>
    public int? MaxAttempts { get; init; }
}
