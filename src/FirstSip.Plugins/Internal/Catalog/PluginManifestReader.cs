using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NJsonSchema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FirstSip.Plugins.Internal.Catalog;

/// <summary>A plugin loaded from its folder: the descriptor and the parsed settings schema.</summary>
internal sealed record LoadedPlugin(PluginDescriptor Descriptor, JsonSchema Schema);

/// <summary>
/// Reads and checks <c>plugin.yaml</c> (manifest format 1, written <c>1</c> or, as the original system wrote it, <c>v1</c>)
/// and the settings schema of one plugin folder. Keys it does not know are kept as <see cref="PluginDescriptor.Metadata"/>;
/// one that looks like a misspelt known key is also reported in <see cref="PluginDescriptor.Warnings"/>. The sidecar's
/// <c>plugins.py</c> applies the same rules.
/// </summary>
internal static partial class PluginManifestReader
{
    public const string ManifestFileName = "plugin.yaml";
    public const string DefaultSchemaFileName = "settings.schema.json";
    public const string CrewFile = "crew/crew.py";

    private static readonly HashSet<string> KnownKeys =
    [
        "schema_version", "name", "description", "version", "runtime", "entry", "timeout_seconds",
        "settings_schema_path", "capabilities", "default_config", "queue_timeout_seconds", "deadline_seconds", "env",
        "isolation",
    ];

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex VariablePattern();

    /// <summary>Loads one plugin folder.</summary>
    /// <exception cref="PluginManifestException">The manifest or schema is invalid.</exception>
    public static LoadedPlugin Load(string folder)
    {
        var folderName = Path.GetFileName(folder);
        var manifestPath = Path.Combine(folder, ManifestFileName);
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(manifestPath))
            {
                stream.Load(reader);
            }

            root = stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode map
                ? map
                : throw new PluginManifestException(folderName, $"{ManifestFileName} must hold one mapping");
        }
        catch (YamlException ex)
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName} is not valid YAML: {ex.Message}");
        }

        var values = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var metadata = new JsonObject();
        var warnings = new List<string>();
        foreach (var (keyNode, valueNode) in root.Children.OrderBy(c => (c.Key as YamlScalarNode)?.Value ?? "", StringComparer.Ordinal))
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (KnownKeys.Contains(key))
            {
                values[key] = valueNode;
                continue;
            }

            metadata[key] = ToJson(valueNode);
            if (NearMiss(key) is { } meant)
            {
                warnings.Add($"{ManifestFileName}: unknown key '{key}' is kept as metadata; did you mean '{meant}'?");
            }
        }

        var schemaVersion = OptionalScalar(values, "schema_version", folderName) ?? "1";
        if (schemaVersion is not ("1" or "v1"))
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: unsupported schema_version {schemaVersion} (expected 1 or v1)");
        }

        var name = RequiredScalar(values, "name", folderName);
        if (!NamePattern().IsMatch(name) || name != folderName)
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: name '{name}' must equal the folder name and match [a-z0-9][a-z0-9-]*");
        }

        var runtime = OptionalScalar(values, "runtime", folderName)
            ?? (File.Exists(Path.Combine(folder, CrewFile))
                ? "crewai"
                : throw new PluginManifestException(folderName, $"{ManifestFileName}: runtime is required (or a {CrewFile} for a CrewAI plugin)"));
        if (runtime is not ("python" or "crewai"))
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: runtime must be python or crewai, not '{runtime}'");
        }

        var entry = OptionalScalar(values, "entry", folderName) ?? (runtime == "crewai" ? "crew/crew.py:create_crew" : null);
        if (entry is null)
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: entry is required for a python plugin (module:function)");
        }

        var timeout = OptionalSeconds(values, "timeout_seconds", folderName);
        var queueTimeout = OptionalSeconds(values, "queue_timeout_seconds", folderName);
        var deadline = OptionalSeconds(values, "deadline_seconds", folderName);
        var capabilities = OptionalStrings(values, "capabilities", folderName);
        var environment = OptionalStrings(values, "env", folderName);
        if (environment.FirstOrDefault(v => !VariablePattern().IsMatch(v)) is { } badVariable)
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: env must list environment variable names, not '{badVariable}'");
        }

        var isolation = OptionalScalar(values, "isolation", folderName) ?? "pool";
        if (isolation is not ("pool" or "process"))
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: isolation must be pool or process, not '{isolation}'");
        }

        var defaultConfig = new JsonObject();
        if (values.TryGetValue("default_config", out var configNode) && !IsNull(configNode))
        {
            if (configNode is not YamlMappingNode configMap)
            {
                throw new PluginManifestException(folderName, $"{ManifestFileName}: default_config must be a mapping");
            }

            defaultConfig = (JsonObject)ToJson(configMap)!;
        }

        var schemaFile = OptionalScalar(values, "settings_schema_path", folderName) ?? DefaultSchemaFileName;
        var schemaPath = Path.GetFullPath(Path.Combine(folder, schemaFile));
        var folderFull = Path.GetFullPath(folder) + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(schemaFile) || !schemaPath.StartsWith(folderFull, StringComparison.Ordinal))
        {
            throw new PluginManifestException(folderName, $"{ManifestFileName}: settings_schema_path must be a path inside the plugin folder");
        }

        string schemaJson;
        JsonSchema schema;
        if (File.Exists(schemaPath))
        {
            schemaJson = File.ReadAllText(schemaPath);
            try
            {
                schema = JsonSchema.FromJsonAsync(schemaJson, schemaPath).GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is Newtonsoft.Json.JsonException or InvalidOperationException or NotSupportedException)
            {
                throw new PluginManifestException(folderName, $"{schemaFile} is not a valid JSON schema: {ex.Message}");
            }

            var problems = SchemaKeywords.Check(JsonNode.Parse(schemaJson));
            if (problems.Count > 0)
            {
                throw new PluginManifestException(folderName, $"settings schema {schemaFile}: {string.Join("; ", problems)}");
            }
        }
        else if (values.ContainsKey("settings_schema_path"))
        {
            throw new PluginManifestException(folderName, $"settings schema {schemaFile} not found");
        }
        else
        {
            schemaJson = """{"type":"object"}""";
            schema = JsonSchema.FromJsonAsync(schemaJson).GetAwaiter().GetResult();
        }

        var descriptor = new PluginDescriptor
        {
            Name = name,
            Description = OptionalScalar(values, "description", folderName) ?? "",
            Version = OptionalScalar(values, "version", folderName) ?? "",
            Runtime = runtime,
            Entry = entry,
            Timeout = timeout,
            QueueTimeout = queueTimeout,
            Deadline = deadline,
            Environment = environment,
            Isolation = isolation,
            Capabilities = capabilities,
            DefaultConfig = defaultConfig,
            SettingsSchemaJson = schemaJson,
            Metadata = metadata,
            Warnings = warnings,
        };
        return new LoadedPlugin(descriptor, schema);
    }

    /// <summary>
    /// The known key an unknown one probably means: compared case-insensitively, at most one edit (insertion, deletion,
    /// substitution, swap of neighbours) from a known key shorter than 8 characters, or two from a longer one.
    /// </summary>
    internal static string? NearMiss(string key)
    {
        var lowered = key.ToLowerInvariant();
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var known in KnownKeys.Order(StringComparer.Ordinal))
        {
            var distance = EditDistance(lowered, known);
            var limit = known.Length < 8 ? 1 : 2;
            if (distance <= limit && distance < bestDistance)
            {
                best = known;
                bestDistance = distance;
            }
        }

        return best;
    }

    private static int EditDistance(string a, string b)
    {
        var rows = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            rows[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            rows[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                rows[i, j] = Math.Min(Math.Min(rows[i - 1, j] + 1, rows[i, j - 1] + 1), rows[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    rows[i, j] = Math.Min(rows[i, j], rows[i - 2, j - 2] + 1);
                }
            }
        }

        return rows[a.Length, b.Length];
    }

    private static string RequiredScalar(Dictionary<string, YamlNode> values, string key, string plugin) =>
        OptionalScalar(values, key, plugin) ?? throw new PluginManifestException(plugin, $"{ManifestFileName}: {key} is required");

    private static string? OptionalScalar(Dictionary<string, YamlNode> values, string key, string plugin)
    {
        if (!values.TryGetValue(key, out var node) || IsNull(node))
        {
            return null;
        }

        return node is YamlScalarNode scalar
            ? scalar.Value
            : throw new PluginManifestException(plugin, $"{ManifestFileName}: {key} must be a single value");
    }

    private static TimeSpan? OptionalSeconds(Dictionary<string, YamlNode> values, string key, string plugin)
    {
        if (OptionalScalar(values, key, plugin) is not { } text)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            throw new PluginManifestException(plugin, $"{ManifestFileName}: {key} must be a positive number, not '{text}'");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static List<string> OptionalStrings(Dictionary<string, YamlNode> values, string key, string plugin)
    {
        var list = new List<string>();
        if (values.TryGetValue(key, out var node) && !IsNull(node))
        {
            if (node is not YamlSequenceNode sequence || sequence.Children.Any(c => c is not YamlScalarNode))
            {
                throw new PluginManifestException(plugin, $"{ManifestFileName}: {key} must be a list of strings");
            }

            list.AddRange(sequence.Children.Cast<YamlScalarNode>().Select(c => c.Value ?? ""));
        }

        return list;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>Converts YAML to JSON with YAML 1.2 core-schema typing of plain scalars (quoted scalars stay strings).</summary>
    private static JsonNode? ToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    obj[((YamlScalarNode)k).Value ?? ""] = ToJson(v);
                }

                return obj;
            case YamlSequenceNode seq:
                var array = new JsonArray();
                foreach (var item in seq.Children)
                {
                    array.Add(ToJson(item));
                }

                return array;
            case YamlScalarNode scalar:
                if (IsNull(scalar))
                {
                    return null;
                }

                var text = scalar.Value ?? "";
                if (scalar.Style != ScalarStyle.Plain)
                {
                    return JsonValue.Create(text);
                }

                if (text is "true" or "True" or "TRUE")
                {
                    return JsonValue.Create(true);
                }

                if (text is "false" or "False" or "FALSE")
                {
                    return JsonValue.Create(false);
                }

                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    return JsonValue.Create(integer);
                }

                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
                {
                    return JsonValue.Create(number);
                }

                return JsonValue.Create(text);
            default:
                return null;
        }
    }
}
