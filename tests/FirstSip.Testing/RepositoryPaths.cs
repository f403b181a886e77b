using System.Reflection;

namespace FirstSip.Testing;

/// <summary>
/// Paths in the repository and next to it. The build records where the repository is, so the tests find it
/// even when their output is written elsewhere (<c>FIRSTSIP_ARTIFACTS</c>).
/// </summary>
public static class RepositoryPaths
{
    /// <summary>Gets the repository's root folder (the one holding <c>FirstSip.sln</c>).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Gets the repository's plugin folder.</summary>
    public static string PluginsDirectory => Path.Combine(Root, "plugins");

    /// <summary>Gets the wire protocol's test vectors: <c>../shared/protocol/v1</c>, or <c>FIRSTSIP_PROTOCOL_DIR</c>.</summary>
    public static string ProtocolVectors =>
        Environment.GetEnvironmentVariable("FIRSTSIP_PROTOCOL_DIR")
        ?? Path.GetFullPath(Path.Combine(Root, "..", "shared", "protocol", "v1"));

    private static string FindRoot()
    {
        var recorded = typeof(RepositoryPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "FirstSip.sln")))
        {
            return recorded;
        }

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(Path.Combine(folder.FullName, "FirstSip.sln")))
                {
                    return folder.FullName;
                }
            }
        }

        throw new InvalidOperationException($"FirstSip.sln not found above {AppContext.BaseDirectory} or the current directory");
    }
}
