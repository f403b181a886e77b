using Microsoft.Extensions.Configuration;

namespace FirstSip.Samples.Briefings;

/// <summary>
/// The sample hosts' settings, read from the environment (<c>FIRSTSIP_REDIS</c>, <c>FIRSTSIP_DB</c>,
/// <c>FIRSTSIP_PLUGINS</c>, <c>FIRSTSIP_SEAL_KEY</c>, <c>FIRSTSIP_DATA</c>) or from the <c>FirstSip</c>
/// section of appsettings.json (<c>Redis</c>, <c>Database</c>, <c>Plugins</c>, <c>SealKey</c>, <c>Data</c>).
/// </summary>
public sealed record SampleSettings
{
    /// <summary>Gets the Redis configuration string.</summary>
    /// <value>The default is <c>localhost:6379</c>.</value>
    public string Redis { get; init; } = "localhost:6379";

    /// <summary>Gets the database: a SQLite file path, or a PostgreSQL connection string (<c>Host=…</c>).</summary>
    /// <value>The default is <c>firstsip.db</c> in the data folder.</value>
    public string Database { get; init; } = Path.Combine("data", "firstsip.db");

    /// <summary>Gets the plugin folder.</summary>
    /// <value>The default is <c>plugins</c>.</value>
    public string Plugins { get; init; } = "plugins";

    /// <summary>Gets the key (base64 of 32 bytes) that seals per-run secrets for the sidecar.</summary>
    public string? SealKey { get; init; }

    /// <summary>Gets whether <see cref="Database"/> is a PostgreSQL connection string.</summary>
    public bool UsesPostgres =>
        Database.Contains("Host=", StringComparison.OrdinalIgnoreCase)
        || Database.StartsWith("postgres", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the settings from configuration; environment variables win over appsettings.json.</summary>
    /// <param name="configuration">The host's configuration.</param>
    /// <returns>The settings.</returns>
    public static SampleSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string? Read(string variable, string key) =>
            NonEmpty(configuration[variable]) ?? NonEmpty(configuration[$"FirstSip:{key}"]);

        var defaults = new SampleSettings();
        var data = Read("FIRSTSIP_DATA", "Data") ?? "data";
        return new SampleSettings
        {
            Redis = Read("FIRSTSIP_REDIS", "Redis") ?? defaults.Redis,
            Database = Read("FIRSTSIP_DB", "Database") ?? Path.Combine(data, "firstsip.db"),
            Plugins = Read("FIRSTSIP_PLUGINS", "Plugins") ?? defaults.Plugins,
            SealKey = Read("FIRSTSIP_SEAL_KEY", "SealKey"),
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
