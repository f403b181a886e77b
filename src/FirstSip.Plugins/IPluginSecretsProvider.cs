namespace FirstSip.Plugins;

/// <summary>
/// Supplies a run's secrets (for example the user's LLM API key) at dispatch time. They are sealed with
/// <see cref="PluginRunStoreOptions.SealKey"/> into the request's <c>secrets</c> field and are never
/// stored in the run, logged, or put on a stream in plain text.
/// </summary>
/// <remarks>Optional; register with <c>AddPluginRunStore(...).AddSecretsProvider&lt;T&gt;()</c>. Without one, runs carry no secrets.</remarks>
public interface IPluginSecretsProvider
{
    /// <summary>Returns the secrets for a run, or <see langword="null"/> (or an empty map) when it needs none.</summary>
    /// <param name="run">The run being dispatched.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>Environment-style names and values, e.g. <c>OPENAI_API_KEY</c>.</returns>
    ValueTask<IReadOnlyDictionary<string, string>?> GetSecretsAsync(PluginRun run, CancellationToken cancellationToken);
}
