using FirstSip.Testing;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Paths in the repository the tests run from.</summary>
internal static class Repository
{
    public static string Root => RepositoryPaths.Root;

    public static string Plugins => RepositoryPaths.PluginsDirectory;

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
}
