namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Paths in the repository the tests run from.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Plugins => Path.Combine(Root, "plugins");

    public static string Sidecar => Path.Combine(Root, "sidecar");

    public static string SidecarTestPlugins => Path.Combine(Root, "sidecar", "tests", "plugins");

    public static string CrewAIStub => Path.Combine(Root, "sidecar", "tests", "stubs");

    public static string Deploy => Path.Combine(Root, "deploy");

    /// <summary>Where tests write files a person may want to look at (screenshots, logs).</summary>
    public static string TestOutput
    {
        get
        {
            var folder = Path.Combine(AppContext.BaseDirectory, "TestOutput");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    private static string FindRoot()
    {
        var recorded = typeof(Repository).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "FirstSip.sln")))
        {
            return recorded;
        }

        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "FirstSip.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"FirstSip.sln not found above {AppContext.BaseDirectory}");
    }
}
