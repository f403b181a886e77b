using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Catalog;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FirstSip.Plugins.Tests.Catalog;

/// <summary>
/// The shared settings vectors (<c>tests/vectors/settings.json</c>), which the sidecar's suite loads too: default merging
/// and validation must give the same merged settings, paths and messages on both sides.
/// </summary>
public sealed class SettingsVectorTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "firstsip-vectors-" + Guid.NewGuid().ToString("N")[..12]);

    public static string VectorsFile => Path.Combine(RepositoryPaths.Root, "tests", "vectors", "settings.json");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var node in LoadCases())
        {
            data.Add(node!["name"]!.GetValue<string>());
        }

        return data;
    }

    private static JsonArray LoadCases() => JsonNode.Parse(File.ReadAllText(VectorsFile))!["cases"]!.AsArray();

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void Vectors_AreThere()
    {
        Assert.True(LoadCases().Count >= 25);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValidateSettings_MatchesTheSharedVector(string name)
    {
        var vector = LoadCases().Single(c => c!["name"]!.GetValue<string>() == name)!;
        var folder = Path.Combine(_directory, "vector");
        Directory.CreateDirectory(folder);
        var defaults = vector["default_config"]?.ToJsonString() ?? "{}";
        File.WriteAllText(Path.Combine(folder, "plugin.yaml"), $"schema_version: 1\nname: vector\nruntime: python\nentry: main:run\ndefault_config: {defaults}\n");
        File.WriteAllText(Path.Combine(folder, "settings.schema.json"), vector["schema"]!.ToJsonString());
        var catalog = new PluginCatalog(Options.Create(new PluginRunStoreOptions { PluginDirectory = _directory }), NullLogger<PluginCatalog>.Instance);
        var expected = vector["expected"]!;
        if (expected["schema_error"] is { } schemaError)
        {
            var problem = Assert.Throws<PluginManifestException>(() => catalog.GetPlugin("vector"));
            Assert.Contains(schemaError.GetValue<string>(), problem.Problem, StringComparison.Ordinal);
            return;
        }

        var result = catalog.ValidateSettings("vector", vector["settings"]!.AsObject());

        var actualErrors = string.Join("\n", result.Errors.OrderBy(e => e.Path, StringComparer.Ordinal).ThenBy(e => e.Message, StringComparer.Ordinal));
        var expectedErrors = string.Join("\n", (expected["errors"]?.AsArray() ?? []).Select(e => new PluginSettingsError(e!["path"]!.GetValue<string>(), e["message"]!.GetValue<string>())));
        Assert.Equal(expectedErrors, actualErrors);
        Assert.Equal(expected["valid"]!.GetValue<bool>(), result.IsValid);
        if (expected["settings"] is { } merged)
        {
            Assert.True(JsonNode.DeepEquals(merged, result.Settings), result.Settings.ToJsonString());
        }
    }
}
