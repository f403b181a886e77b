using System.Text.Json;
using System.Text.Json.Nodes;

namespace FirstSip.Plugins.Internal.Secrets;

/// <summary>
/// Credentials given as settings, the way the original system injected them (<c>_llm_api_key</c>, <c>_tavily_api_key</c>):
/// a top-level settings key that starts with <c>_</c> and that the plugin's settings schema does not declare. They are
/// moved out of the settings into the run's secrets before anything is validated or stored. A declared <c>_</c> key (the
/// original's <c>_llm_model</c>) stays a setting. The sidecar applies the same rule to a request that carries them.
/// </summary>
internal static class RunCredentials
{
    /// <summary>Splits settings into the settings to keep and the credentials to seal.</summary>
    /// <returns>The settings without the credentials (a copy), and the credentials (values as text).</returns>
    public static (JsonObject? Settings, Dictionary<string, string> Credentials) Split(JsonObject? settings, string schemaJson)
    {
        var credentials = new Dictionary<string, string>(StringComparer.Ordinal);
        if (settings is null || !settings.Any(p => p.Key.StartsWith('_')))
        {
            return (settings, credentials);
        }

        var declared = DeclaredProperties(schemaJson);
        var kept = new JsonObject();
        foreach (var (key, value) in settings)
        {
            if (key.StartsWith('_') && !declared.Contains(key))
            {
                if (value is not null)
                {
                    credentials[key] = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString();
                }

                continue;
            }

            kept[key] = value?.DeepClone();
        }

        return (kept, credentials);
    }

    private static HashSet<string> DeclaredProperties(string schemaJson)
    {
        try
        {
            return JsonNode.Parse(schemaJson)?["properties"] is JsonObject properties
                ? properties.Select(p => p.Key).ToHashSet(StringComparer.Ordinal)
                : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}
