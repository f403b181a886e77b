using System.Text.Json.Nodes;

namespace FirstSip.Plugins.Internal.Catalog;

/// <summary>
/// Finds keywords NJsonSchema does not enforce (<c>const</c>, <c>if</c>, <c>dependencies</c>, ...). A settings schema that
/// uses one is rejected, here and by the sidecar (<c>schema.py</c>), so no keyword is enforced on one side only.
/// </summary>
internal static class SchemaKeywords
{
    public static readonly IReadOnlySet<string> Unenforced = new HashSet<string>(StringComparer.Ordinal)
    {
        "const", "contains", "dependencies", "dependentRequired", "dependentSchemas", "if", "then", "else",
        "propertyNames", "prefixItems", "unevaluatedItems", "unevaluatedProperties", "minContains", "maxContains",
    };

    private static readonly string[] SubschemaMaps = ["properties", "patternProperties", "definitions", "$defs"];
    private static readonly string[] SubschemaLists = ["allOf", "anyOf", "oneOf"];
    private static readonly string[] SubschemaSingles = ["items", "additionalProperties", "additionalItems", "not"];

    /// <summary>Lists the unenforced keywords of a schema, as <c>#/properties/k: unsupported keyword 'const' (...)</c>.</summary>
    public static List<string> Check(JsonNode? schema)
    {
        var problems = new List<string>();
        Walk(schema, "#", problems);
        return problems;
    }

    private static void Walk(JsonNode? node, string path, List<string> problems)
    {
        if (node is not JsonObject schema)
        {
            return;
        }

        foreach (var key in schema.Select(p => p.Key).Where(Unenforced.Contains).Order(StringComparer.Ordinal))
        {
            problems.Add($"{path}: unsupported keyword '{key}' (not validated by the .NET catalog)");
        }

        foreach (var key in SubschemaMaps)
        {
            if (schema[key] is JsonObject map)
            {
                foreach (var (name, sub) in map)
                {
                    Walk(sub, $"{path}/{key}/{name}", problems);
                }
            }
        }

        foreach (var key in SubschemaLists)
        {
            if (schema[key] is JsonArray list)
            {
                for (var i = 0; i < list.Count; i++)
                {
                    Walk(list[i], $"{path}/{key}/{i}", problems);
                }
            }
        }

        foreach (var key in SubschemaSingles)
        {
            switch (schema[key])
            {
                case JsonObject single:
                    Walk(single, $"{path}/{key}", problems);
                    break;
                case JsonArray tuple when key == "items":
                    for (var i = 0; i < tuple.Count; i++)
                    {
                        Walk(tuple[i], $"{path}/items/{i}", problems);
                    }

                    break;
            }
        }
    }
}
