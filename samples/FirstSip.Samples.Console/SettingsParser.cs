using System.Text.Json;
using System.Text.Json.Nodes;
using FirstSip.Plugins;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>
/// Turns <c>--set key=value</c> pairs into a settings object, reading each value the way the plugin's
/// settings schema declares it: lists from comma-separated text, numbers and booleans from text, and
/// JSON where the text is JSON. The package validates the result against the schema afterwards.
/// </summary>
internal static class SettingsParser
{
    public static JsonObject Parse(IReadOnlyList<string> pairs, PluginDescriptor? plugin)
    {
        var properties = plugin is null ? null : SchemaProperties(plugin);
        var settings = new JsonObject();
        foreach (var pair in pairs)
        {
            var separator = pair.IndexOf('=', StringComparison.Ordinal);
            if (separator <= 0)
            {
                throw new FormatException($"--set expects key=value, got '{pair}'");
            }

            var key = pair[..separator].Trim();
            var text = pair[(separator + 1)..];
            settings[key] = Value(text, properties?[key]?["type"]?.GetValue<string>());
        }

        return settings;
    }

    private static JsonObject? SchemaProperties(PluginDescriptor plugin) =>
        JsonNode.Parse(plugin.SettingsSchemaJson)?["properties"] as JsonObject;

    private static JsonNode? Value(string text, string? type)
    {
        var trimmed = text.Trim();
        switch (type)
        {
            case "array" when !trimmed.StartsWith('['):
                return new JsonArray(trimmed.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(item => (JsonNode?)JsonValue.Create(item)).ToArray());
            case "string":
                return JsonValue.Create(text);
            case "integer" or "number" or "boolean" or "array" or "object":
                return TryJson(trimmed) ?? JsonValue.Create(text);
            default:
                // Not in the schema (the validation will say so) or no schema: JSON when it parses, text otherwise.
                return TryJson(trimmed) ?? JsonValue.Create(text);
        }
    }

    private static JsonNode? TryJson(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
