using System.Diagnostics;
using System.Globalization;
using FirstSip.EndToEnd.Tests.Infrastructure;

namespace FirstSip.EndToEnd.Tests;

/// <summary>
/// The README's example: the snippet is the sample that the solution builds, the sample runs a plugin against a real
/// Redis and sidecar, and the packages that <c>./run pack</c> makes install into a new project that runs the snippet.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class MinimalAppTests(EndToEndEnvironment environment)
{
    private const string SnippetStart = "// <snippet:minimal-app>\n";
    private const string SnippetEnd = "// </snippet:minimal-app>";
    private const string ReadmeStart = "<!-- snippet: minimal-app -->\n```csharp\n";
    private const string ReadmeEnd = "```\n<!-- endsnippet -->";

    private static string SampleProgram => Path.Combine(Repository.Root, "samples", "FirstSip.Samples.Minimal", "Program.cs");

    private static string Readme => Path.Combine(Repository.Root, "README.md");

    [Fact]
    public void Readme_MinimalAppSnippet_IsTheSampleTheSolutionBuilds()
    {
        var source = File.ReadAllText(SampleProgram).ReplaceLineEndings("\n");
        var snippet = Between(source, SnippetStart, SnippetEnd).TrimEnd('\n') + "\n";
        var readme = File.ReadAllText(Readme).ReplaceLineEndings("\n");
        var shown = Between(readme, ReadmeStart, ReadmeEnd);

        if (shown != snippet && Environment.GetEnvironmentVariable("FIRSTSIP_UPDATE_SNIPPETS") == "1")
        {
            var at = readme.IndexOf(ReadmeStart, StringComparison.Ordinal) + ReadmeStart.Length;
            File.WriteAllText(Readme, readme[..at] + snippet + readme[(at + shown.Length)..]);
            return;
        }

        Assert.True(shown == snippet,
            "README.md's minimal-app snippet differs from samples/FirstSip.Samples.Minimal/Program.cs; " +
            "run FIRSTSIP_UPDATE_SNIPPETS=1 dotnet test tests/FirstSip.EndToEnd.Tests --filter Readme_ to copy it over");
    }

    [Fact]
    public async Task MinimalApp_AsBuilt_RunsFeedDigestThroughRedisAndASidecar()
    {
        await using var sidecar = await StartDefaultStreamsSidecarAsync("sidecar-minimal");
        var folder = AppFolder();

        var result = await RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "FirstSip.Samples.Minimal.dll")], folder, TimeSpan.FromMinutes(3));

        Assert.True(result.ExitCode == 0, result.ToString());
        // The host's own log lines go to the console too: the app's line is the run's status and briefing.
        var line = Assert.Single(result.Output.Split('\n'), l => l.StartsWith("Completed: {", StringComparison.Ordinal));
        Assert.Contains("\"sections\"", line, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(folder, "runs.db")));
    }

    [Fact]
    public async Task Packages_FromTheLocalFeedOfRunPack_InstallIntoANewProjectThatRunsTheReadmeSnippet()
    {
        var version = $"0.1.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var feed = Directory.CreateTempSubdirectory("firstsip-feed-").FullName;
        var app = AppFolder();
        try
        {
            var pack = await RunAsync(Path.Combine(Repository.Root, "run"), ["pack", version], Repository.Root, TimeSpan.FromMinutes(8),
                new Dictionary<string, string?> { ["FIRSTSIP_PACKAGES"] = feed });
            Assert.True(pack.ExitCode == 0, pack.ToString());
            foreach (var package in new[] { "FirstSip.Streams", "FirstSip.Plugins" })
            {
                Assert.True(File.Exists(Path.Combine(feed, $"{package}.{version}.nupkg")), $"{package}.{version}.nupkg: {pack}");
                Assert.True(File.Exists(Path.Combine(feed, $"{package}.{version}.snupkg")), $"{package}.{version}.snupkg: {pack}");
            }

            // A new project, as the README says: dotnet new, the local feed as a source, dotnet add package, the snippet.
            await Step(app, "dotnet", "new", "console", "--name", "MinimalApp", "--output", ".", "--no-restore");
            File.WriteAllText(Path.Combine(app, "nuget.config"), """
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            await Step(app, "dotnet", "nuget", "add", "source", feed, "--name", "firstsip-local", "--configfile", "nuget.config");
            await Step(app, "dotnet", "add", "package", "FirstSip.Plugins", "--version", version);
            await Step(app, "dotnet", "add", "package", "Microsoft.Extensions.Hosting", "--version", "10.0.15");
            var readme = File.ReadAllText(Readme).ReplaceLineEndings("\n");
            File.WriteAllText(Path.Combine(app, "Program.cs"), Between(readme, ReadmeStart, ReadmeEnd));
            await Step(app, "dotnet", "build", "-c", "Release", "-nologo", "-v", "quiet");

            await using var sidecar = await StartDefaultStreamsSidecarAsync("sidecar-packages");
            var result = await RunAsync("dotnet", ["run", "-c", "Release", "--no-build"], app, TimeSpan.FromMinutes(3));

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Single(result.Output.Split('\n'), l => l.StartsWith("Completed: {", StringComparison.Ordinal));
            var assets = File.ReadAllText(Path.Combine(app, "obj", "project.assets.json"));
            Assert.Contains($"FirstSip.Streams/{version}", assets, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(feed, recursive: true);
            // The test's versions do not stay in the machine's package cache.
            var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var package in new[] { "firstsip.streams", "firstsip.plugins" })
            {
                var cached = Path.Combine(cache, package, version);
                if (Directory.Exists(cached))
                {
                    Directory.Delete(cached, recursive: true);
                }
            }
        }
    }

    /// <summary>A working folder with the test plugins as <c>plugins</c>, as the snippet expects.</summary>
    private string AppFolder()
    {
        var folder = Directory.CreateTempSubdirectory("firstsip-minimal-").FullName;
        Directory.CreateSymbolicLink(Path.Combine(folder, "plugins"), environment.PluginDirectory);
        return folder;
    }

    /// <summary>A sidecar on the default stream names and key prefix, which the snippet uses.</summary>
    private async Task<ChildProcess> StartDefaultStreamsSidecarAsync(string name)
    {
        var defaults = new Dictionary<string, string?>(environment.Default.SidecarVariables);
        foreach (var key in new[] { "FIRSTSIP_REQUESTS_STREAM", "FIRSTSIP_RESULTS_STREAM", "FIRSTSIP_EVENTS_STREAM", "FIRSTSIP_KEY_PREFIX" })
        {
            defaults[key] = null;
        }

        var lane = environment.Default;
        var (process, _) = await Sidecar.StartAsync(name, lane, defaults);
        return process;
    }

    private async Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string?>? variables = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["FIRSTSIP_REDIS"] = EndToEndEnvironment.RedisUrl(environment.Redis.ConnectionString);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in variables ?? new Dictionary<string, string?>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not end within {timeout}: {await output}\n{await error}");
        }

        return new ProcessResult(process.ExitCode, await output, await error);
    }

    private async Task Step(string folder, string fileName, params string[] arguments)
    {
        var result = await RunAsync(fileName, arguments, folder, TimeSpan.FromMinutes(5));
        Assert.True(result.ExitCode == 0, $"{fileName} {string.Join(' ', arguments)}: {result}");
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, $"no '{start.Trim()}' marker");
        from += start.Length;
        var to = text.IndexOf(end, from, StringComparison.Ordinal);
        Assert.True(to >= 0, $"no '{end.Trim()}' marker");
        return text[from..to];
    }

    private sealed record ProcessResult(int ExitCode, string Output, string Error)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"exit code {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}");
    }
}
