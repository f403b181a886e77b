namespace FirstSip.Plugins.Tests.Infrastructure;

/// <summary>Small plugin folders written for a test: <c>echo</c> (strict schema, defaults) and <c>plain</c> (no schema file).</summary>
public sealed class TestPlugins : IDisposable
{
    public const string EchoSchema = """
        {
          "$schema": "http://json-schema.org/draft-07/schema#",
          "type": "object",
          "additionalProperties": false,
          "required": ["topics"],
          "properties": {
            "topics": { "type": "array", "minItems": 1, "maxItems": 3, "items": { "type": "string", "minLength": 2 } },
            "summary_length": { "type": "string", "enum": ["brief", "standard", "detailed"] },
            "count": { "type": "integer", "minimum": 1, "maximum": 10 },
            "preferred_time": { "type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$" },
            "source": { "type": "string", "format": "uri" }
          }
        }
        """;

    public const string EchoManifest = """
        schema_version: 1
        name: echo
        description: Echoes its settings.
        version: 1.2.0
        runtime: python
        entry: echo:run
        timeout_seconds: 90
        settings_schema_path: settings.schema.json
        capabilities: [network, llm]
        default_config:
          summary_length: brief
          count: 3
        """;

    public TestPlugins()
    {
        Directory = Path.Combine(Path.GetTempPath(), "firstsip-plugins-" + Guid.NewGuid().ToString("N")[..12]);
        Add("echo", EchoManifest, EchoSchema);
        Add("plain", """
            schema_version: 1
            name: plain
            runtime: crewai
            """, schema: null);
    }

    public string Directory { get; }

    public void Add(string folder, string manifest, string? schema)
    {
        var path = Path.Combine(Directory, folder);
        System.IO.Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "plugin.yaml"), manifest);
        if (schema is not null)
        {
            File.WriteAllText(Path.Combine(path, "settings.schema.json"), schema);
        }
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
