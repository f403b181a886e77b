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
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\nfavourite_colour: blue\n", "unknown key 'favourite_colour'")]
    [InlineData("schema_version: 2\nname: bad\nruntime: python\nentry: a:b\n", "unsupported schema_version 2")]
    [InlineData("schema_version: 1\nname: other\nruntime: python\nentry: a:b\n", "must equal the folder name")]
    [InlineData("schema_version: 1\nname: bad\nruntime: java\nentry: a:b\n", "runtime must be python or crewai")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\n", "entry is required")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\nsettings_schema_path: ../../etc/passwd\n", "inside the plugin folder")]
    [InlineData("schema_version: 1\nname: bad\nruntime: python\nentry: a:b\ntimeout_seconds: soon\n", "timeout_seconds must be a positive number")]
    [InlineData("schema_version: 1\nruntime: python\nentry: a:b\n", "name is required")]
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
