using Microsoft.Extensions.Configuration;

namespace FirstSip.Samples.Briefings;

/// <summary>
/// The sample hosts' settings, read from the environment (<c>FIRSTSIP_REDIS</c>, <c>FIRSTSIP_DB</c>,
/// <c>FIRSTSIP_PLUGINS</c>, <c>FIRSTSIP_SEAL_KEY</c>, <c>FIRSTSIP_DATA</c>) or from the <c>FirstSip</c>
/// section of appsettings.json (<c>Redis</c>, <c>Database</c>, <c>Plugins</c>, <c>SealKey</c>, <c>Data</c>).
/// Relative paths are resolved against the repository root when the host runs from inside the repository
/// (whatever the current folder), and against the current folder otherwise.
/// </summary>
public sealed record SampleSettings
{
    /// <summary>The file that marks the repository root.</summary>
    public const string RepositoryMarker = "FirstSip.sln";

    /// <summary>Gets the Redis address: a StackExchange.Redis configuration string or a <c>redis://</c> / <c>rediss://</c> URL.</summary>
    /// <value>The default is <c>localhost:6379</c>.</value>
    public string Redis { get; init; } = "localhost:6379";

    /// <summary>Gets the database: a SQLite file path (absolute), or a PostgreSQL connection string (<c>Host=…</c>).</summary>
    /// <value>The default is <c>firstsip.db</c> in the data folder.</value>
    public string Database { get; init; } = Path.Combine("data", "firstsip.db");

    /// <summary>Gets the plugin folder (absolute).</summary>
    /// <value>The default is <c>plugins</c> under the base folder.</value>
    public string Plugins { get; init; } = "plugins";

    /// <summary>Gets the folder relative paths were resolved against.</summary>
    public string BaseDirectory { get; init; } = Directory.GetCurrentDirectory();

    /// <summary>Gets the key (base64 of 32 bytes) that seals per-run secrets for the sidecar.</summary>
    public string? SealKey { get; init; }

    /// <summary>Gets whether <see cref="Database"/> is a PostgreSQL connection string.</summary>
    public bool UsesPostgres => IsPostgres(Database);

    /// <summary>Reads the settings from configuration; environment variables win over appsettings.json.</summary>
    /// <param name="configuration">The host's configuration.</param>
    /// <param name="baseDirectory">The folder relative paths are resolved against; <see cref="FindBaseDirectory"/> when null.</param>
    /// <returns>The settings, with absolute paths.</returns>
    public static SampleSettings From(IConfiguration configuration, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string? Read(string variable, string key) =>
            NonEmpty(configuration[variable]) ?? NonEmpty(configuration[$"FirstSip:{key}"]);

        var root = baseDirectory ?? FindBaseDirectory();
        var defaults = new SampleSettings();
        var data = Path.GetFullPath(Read("FIRSTSIP_DATA", "Data") ?? "data", root);
        var database = Read("FIRSTSIP_DB", "Database");
        return new SampleSettings
        {
            Redis = Read("FIRSTSIP_REDIS", "Redis") ?? defaults.Redis,
            Database = database is null ? Path.Combine(data, "firstsip.db")
                : IsPostgres(database) ? database
                : Path.GetFullPath(database, root),
            Plugins = Path.GetFullPath(Read("FIRSTSIP_PLUGINS", "Plugins") ?? defaults.Plugins, root),
            BaseDirectory = root,
            SealKey = Read("FIRSTSIP_SEAL_KEY", "SealKey"),
        };
    }

    /// <summary>
    /// The repository root when the current folder or the program's own folder is inside the repository
    /// (the nearest folder holding <see cref="RepositoryMarker"/>), and the current folder otherwise.
    /// </summary>
    /// <returns>An absolute folder path.</returns>
    public static string FindBaseDirectory()
    {
        var current = Directory.GetCurrentDirectory();
        return FindRepositoryRoot(current) ?? FindRepositoryRoot(AppContext.BaseDirectory) ?? current;
    }

    private static string? FindRepositoryRoot(string start)
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, RepositoryMarker)))
            {
                return folder.FullName;
            }
        }

        return null;
    }

    private static bool IsPostgres(string database) =>
        database.Contains("Host=", StringComparison.OrdinalIgnoreCase)
        || database.StartsWith("postgres", StringComparison.OrdinalIgnoreCase);

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
