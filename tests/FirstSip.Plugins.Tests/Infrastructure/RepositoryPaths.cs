namespace FirstSip.Plugins.Tests.Infrastructure;

/// <summary>Paths in the repository and next to it, found from the test assembly's location upwards.</summary>
public static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string PluginsDirectory => Path.Combine(Root, "plugins");

    /// <summary><c>../shared/protocol/v1</c> relative to the repository root.</summary>
    public static string ProtocolVectors => Path.GetFullPath(Path.Combine(Root, "..", "shared", "protocol", "v1"));

    private static string FindRoot()
    {
        var built = typeof(RepositoryPaths).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (built is not null && File.Exists(Path.Combine(built, "FirstSip.sln")))
        {
            return built;
        }

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "FirstSip.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("FirstSip.sln not found above the test assembly or the current directory");
    }
}
