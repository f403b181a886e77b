using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Catalog;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Tests.Catalog;

public sealed class PluginCatalogTests : IDisposable
{
    private readonly TestPlugins _plugins = new();

    public void Dispose() => _plugins.Dispose();

    private PluginCatalog Catalog(string? directory = null) =>
        new(Options.Create(new PluginRunStoreOptions { PluginDirectory = directory ?? _plugins.Directory }), NullLogger<PluginCatalog>.Instance);

    [Fact]
    public void GetPlugins_ReadsManifestAndSchema()
    {
        var plugins = Catalog().GetPlugins();

        Assert.Equal(["echo", "plain"], plugins.Select(p => p.Name));
        var echo = plugins[0];
        Assert.Equal("Echoes its settings.", echo.Description);
        Assert.Equal("1.2.0", echo.Version);
        Assert.Equal("python", echo.Runtime);
        Assert.Equal("echo:run", echo.Entry);
        Assert.Equal(TimeSpan.FromSeconds(90), echo.Timeout);
        Assert.Equal(["network", "llm"], echo.Capabilities);
        Assert.Equal("brief", echo.DefaultConfig["summary_length"]!.GetValue<string>());
        Assert.Equal(3, echo.DefaultConfig["count"]!.GetValue<long>());
        Assert.Contains("\"topics\"", echo.SettingsSchemaJson);

        var plain = plugins[1];
        Assert.Equal("crewai", plain.Runtime);
        Assert.Equal("crew/crew.py:create_crew", plain.Entry);
        Assert.Null(plain.Timeout);
    }

    [Fact]
    public void ValidateSettings_MergesDefaultsUnderSettings_RunKeysWin()
    {
        var result = Catalog().ValidateSettings("echo", JsonNode.Parse("""{"topics":["ai","go"],"count":7}""")!.AsObject());

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(7, result.Settings["count"]!.GetValue<int>());
        Assert.Equal("brief", result.Settings["summary_length"]!.GetValue<string>());
        Assert.Equal(2, result.Settings["topics"]!.AsArray().Count);
    }

    [Fact]
    public void ValidateSettings_InvalidSettings_ListsEveryFailingPath()
    {
        var settings = JsonNode.Parse("""
            {"topics":["ok","x", 5, "d"],"summary_length":"epic","count":0,"preferred_time":"6am","extra":true,"source":"not a uri"}
            """)!.AsObject();

        var result = Catalog().ValidateSettings("echo", settings);

        Assert.False(result.IsValid);
        var paths = result.Errors.Select(e => e.Path).ToHashSet();
        Assert.Contains("topics", paths);          // more than 3 items
        Assert.Contains("topics[1]", paths);       // too short
        Assert.Contains("topics[2]", paths);       // not a string
        Assert.Contains("summary_length", paths);  // not in the enum
        Assert.Contains("count", paths);           // below the minimum
        Assert.Contains("preferred_time", paths);  // pattern
        Assert.Contains("extra", paths);           // not allowed
        Assert.Contains("source", paths);          // format uri
        Assert.Contains(result.Errors, e => e.Path == "summary_length" && e.Message.Contains("brief, standard, detailed"));
        Assert.Contains(result.Errors, e => e.Path == "topics" && e.Message.Contains("at most 3"));
    }

    [Fact]
    public void ValidateSettings_MissingRequired_NamesThePath()
    {
        var result = Catalog().ValidateSettings("echo", null);

        var error = Assert.Single(result.Errors);
        Assert.Equal("topics", error.Path);
        Assert.Equal("is required", error.Message);
    }

    [Theory]
    [InlineData("../echo")]
    [InlineData("echo/../plain")]
    [InlineData("/etc")]
    [InlineData("ECHO")]
    [InlineData("missing")]
    public void GetPlugin_NameNotInCatalog_IsUnknown(string name)
    {
        var catalog = Catalog();

        Assert.Null(catalog.GetPlugin(name));
        var ex = Assert.Throws<UnknownPluginException>(() => catalog.ValidateSettings(name, null));
        Assert.Equal(name, ex.PluginName);
        Assert.Contains(name, ex.Message);
    }

    [Theory]
    [InlineData("schema_version: 2\nname: bad\nruntime: python\nentry: a:b\n", "unsupported schema_version 2 (expected 1 or v1)")]
    [InlineData("schema_version: v2\nname: bad\nruntime: python\nentry: a:b\n", "unsupported schema_version v2")]
    [InlineData("schema_version: v1\nname: bad\nversion: 1.0.0\n", "runtime is required (or a crew/crew.py for a CrewAI plugin)")]
    [InlineData("schema_version: 1\nname: other\nruntime: python\nentry: a:b\n", "must equal the folder name")]
    [InlineData("schema_version: 1\nname: bad\nruntime: java\nentry: a:b\n", "runtime must be python or crewai")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\n", "entry is required")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\nsettings_schema_path: ../../etc/passwd\n", "inside the plugin folder")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\ntimeout_seconds: soon\n", "timeout_seconds must be a positive number")]
    [InlineData("schema_version: 1\nruntime: python\nentry: a:b\n", "name is required")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\nisolation: thread\n", "isolation must be pool or process, not 'thread'")]
    [InlineData("- just\n- a list\n", "must hold one mapping")]
    public void GetPlugin_InvalidManifest_ThrowsWithTheProblem_AndOthersStillLoad(string manifest, string problem)
    {
        _plugins.Add("bad", manifest, schema: null);
        var catalog = Catalog();

        var ex = Assert.Throws<PluginManifestException>(() => catalog.GetPlugin("bad"));
        Assert.Contains(problem, ex.Message);
        Assert.Equal("bad", ex.PluginName);
        Assert.DoesNotContain(catalog.GetPlugins(), p => p.Name == "bad");
        Assert.NotNull(catalog.GetPlugin("echo"));
    }

    [Fact]
    public void GetPlugin_OriginalManifest_LoadsWithItsKeysAsMetadata()
    {
        _plugins.Add("news", """
            name: news
            description: A digest in the original system's format
            owner: first-sip
            version: 1.0.0
            schema_version: v1
            icon: "📰"
            tile_size: "2x1"
            display_order: 2
            capabilities:
              - briefing
              - scheduled
            default_config:
              frequency: daily
              preferred_time: "06:00"
            settings_schema_path: settings.schema.json
            """, """{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"frequency": {"type": "string", "format": "email"}}}""");
        Directory.CreateDirectory(Path.Combine(_plugins.Directory, "news", "crew"));
        File.WriteAllText(Path.Combine(_plugins.Directory, "news", "crew", "crew.py"), "def create_crew(settings):\n    return None\n");

        var plugin = Catalog().GetPlugin("news");

        Assert.NotNull(plugin);
        Assert.Equal("crewai", plugin.Runtime);
        Assert.Equal("crew/crew.py:create_crew", plugin.Entry);
        Assert.Equal(["briefing", "scheduled"], plugin.Capabilities);
        Assert.Equal("06:00", plugin.DefaultConfig["preferred_time"]!.GetValue<string>());
        Assert.Equal("first-sip", plugin.Metadata["owner"]!.GetValue<string>());
        Assert.Equal("📰", plugin.Metadata["icon"]!.GetValue<string>());
        Assert.Equal("2x1", plugin.Metadata["tile_size"]!.GetValue<string>());
        Assert.Equal(2, plugin.Metadata["display_order"]!.GetValue<long>());
        Assert.Empty(plugin.Warnings);
    }

    [Fact]
    public void GetPlugin_NearMissKey_IsKeptAsMetadataWithAWarning()
    {
        _plugins.Add("typo", "schema_version: 1\nname: typo\nruntime: python\nentry: a:b\ntimeout_second: 30\nfavourite_colour: blue\n", schema: null);
        var logger = new Microsoft.Extensions.Logging.Testing.FakeLogger<PluginCatalog>();
        var catalog = new PluginCatalog(Options.Create(new PluginRunStoreOptions { PluginDirectory = _plugins.Directory }), logger);

        var plugin = catalog.GetPlugin("typo");

        Assert.NotNull(plugin);
        Assert.Null(plugin.Timeout);
        Assert.Equal(30, plugin.Metadata["timeout_second"]!.GetValue<long>());
        Assert.Equal("blue", plugin.Metadata["favourite_colour"]!.GetValue<string>());
        var warning = Assert.Single(plugin.Warnings);
        Assert.Equal("plugin.yaml: unknown key 'timeout_second' is kept as metadata; did you mean 'timeout_seconds'?", warning);
        Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning && r.Message.Contains("did you mean 'timeout_seconds'"));
    }

    [Theory]
    [InlineData("", "pool")]
    [InlineData("isolation: pool\n", "pool")]
    [InlineData("isolation: process\n", "process")]
    public void GetPlugin_Isolation_IsAKnownKey_PoolByDefault(string line, string expected)
    {
        _plugins.Add("isolated", "schema_version: 1\nname: isolated\nruntime: python\nentry: a:b\n" + line, schema: null);

        var plugin = Catalog().GetPlugin("isolated");

        Assert.NotNull(plugin);
        Assert.Equal(expected, plugin.Isolation);
        Assert.False(plugin.Metadata.ContainsKey("isolation"));
        Assert.Empty(plugin.Warnings);
    }

    [Theory]
    [InlineData("timeout_second", "timeout_seconds")]
    [InlineData("entyr", "entry")]
    [InlineData("runtim", "runtime")]
    [InlineData("Runtime", "runtime")]
    [InlineData("default_confg", "default_config")]
    [InlineData("envs", "env")]
    [InlineData("owner", null)]
    [InlineData("icon", null)]
    [InlineData("tile_size", null)]
    [InlineData("display_order", null)]
    [InlineData("colour", null)]
    public void NearMiss_MatchesTheSidecarsRule(string key, string? meant)
    {
        Assert.Equal(meant, PluginManifestReader.NearMiss(key));
    }

    [Theory]
    [InlineData("schema_version: 1\n")]
    [InlineData("schema_version: v1\n")]
    [InlineData("schema_version: \"1\"\n")]
    [InlineData("")]
    public void GetPlugin_SchemaVersion_OneOrV1OrAbsent(string line)
    {
        _plugins.Add("versioned", line + "name: versioned\nruntime: python\nentry: a:b\n", schema: null);

        Assert.NotNull(Catalog().GetPlugin("versioned"));
    }

    [Fact]
    public void GetPlugin_InvalidSchemaJson_IsReported()
    {
        _plugins.Add("broken-schema", "schema_version: 1\nname: broken-schema\nruntime: python\nentry: a:b\n", "{ not json");

        var ex = Assert.Throws<PluginManifestException>(() => Catalog().GetPlugin("broken-schema"));
        Assert.Contains("settings.schema.json", ex.Message);
    }

    [Fact]
    public void GetPlugins_MissingDirectory_IsEmpty()
    {
        Assert.Empty(Catalog(Path.Combine(_plugins.Directory, "nope")).GetPlugins());
    }

    [Fact]
    public void RepositoryPlugins_LoadWithoutErrors_AndTheirDefaultsValidate()
    {
        var directory = RepositoryPaths.PluginsDirectory;
        var names = Directory.GetDirectories(directory).Select(Path.GetFileName).Order().ToList();
        Assert.NotEmpty(names);
        var catalog = Catalog(directory);

        foreach (var name in names)
        {
            var plugin = catalog.GetPlugin(name!);
            Assert.NotNull(plugin);
        }

        Assert.Equal(names, catalog.GetPlugins().Select(p => p.Name));
    }

    [Fact]
    public void DailyNewsDigest_AcceptsTheProtocolVectorSettings()
    {
        var catalog = Catalog(RepositoryPaths.PluginsDirectory);
        var settings = JsonNode.Parse("""{"topics":["technology","business"],"summary_length":"brief","frequency":"daily","preferred_time":"06:00"}""")!.AsObject();

        var result = catalog.ValidateSettings("daily-news-digest", settings);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
    }
}
