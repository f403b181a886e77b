using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace FirstSip.Testing;

/// <summary>
/// A real PostgreSQL server for a test run: the one named by <c>FIRSTSIP_PG</c> (an Npgsql
/// connection string) when set, otherwise a throw-away cluster created with <c>initdb</c> in a
/// temporary directory and started on a free loopback port (no fsync), stopped and deleted when
/// the fixture is disposed. Each test asks for its own database with <see cref="CreateDatabaseConnectionString"/>;
/// Npgsql's EF Core provider creates it on first use.
/// </summary>
/// <remarks>
/// The server binaries are taken from <c>FIRSTSIP_PG_BIN</c>, else the newest
/// <c>/usr/lib/postgresql/*/bin</c>, else <c>PATH</c>. When the tests run as root (CI), the cluster
/// is created and run as the <c>postgres</c> user, because PostgreSQL refuses to run as root.
/// </remarks>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string Remedy =
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run ./run test (installs them), or apt-get install postgresql, " +
        "or set FIRSTSIP_PG_BIN to their folder, or set FIRSTSIP_PG to the connection string of a server to use.";

    private string? _directory;
    private string? _binDirectory;
    private bool _asPostgresUser;

    /// <summary>Gets the connection string of the server's maintenance database (<c>postgres</c>).</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>Gets whether this fixture started the server (and stops it when disposed).</summary>
    public bool IsOwnServer => _directory is not null;

    /// <summary>Returns a connection string for a new, uniquely named database on the server.</summary>
    /// <param name="prefix">The start of the database name.</param>
    public string CreateDatabaseConnectionString(string prefix = "firstsip_test")
    {
        var name = $"{prefix}_{Guid.NewGuid():N}";
        return ReplaceDatabase(ConnectionString, name);
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable("FIRSTSIP_PG");
        if (!string.IsNullOrWhiteSpace(external))
        {
            ConnectionString = external;
            return;
        }

        _binDirectory = FindBinDirectory() ?? throw new InvalidOperationException(Remedy);
        _asPostgresUser = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";

        var directory = Path.Combine(Path.GetTempPath(), "firstsip-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        _directory = directory;
        if (_asPostgresUser)
        {
            await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false).ConfigureAwait(false);
        }

        var data = Path.Combine(directory, "data");
        await RunAsync(Tool("initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], _asPostgresUser)
            .ConfigureAwait(false);

        var port = FreePort();
        var serverOptions = $"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " +
                            "-c full_page_writes=off -c max_connections=300";
        await RunAsync(Tool("pg_ctl"), ["-D", data, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "-o", serverOptions, "start"], _asPostgresUser)
            .ConfigureAwait(false);

        ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true;Include Error Detail=true";
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_directory is null)
        {
            return;
        }

        try
        {
            await RunAsync(Tool("pg_ctl"), ["-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "-t", "30", "stop"], _asPostgresUser)
                .ConfigureAwait(false);
        }
        finally
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A left-over temporary directory is harmless.
            }
            catch (UnauthorizedAccessException)
            {
                // Same as above.
            }

            _directory = null;
        }
    }

    private string Tool(string name) => Path.Combine(_binDirectory!, name);

    private static string? FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("FIRSTSIP_PG_BIN");
        if (!string.IsNullOrWhiteSpace(configured) && File.Exists(Path.Combine(configured, "initdb")))
        {
            return configured;
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var newest = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "initdb")))
                .OrderByDescending(d => d.Version)
                .Select(d => d.Dir)
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        foreach (var entry in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(entry, "initdb")) && File.Exists(Path.Combine(entry, "pg_ctl")))
            {
                return entry;
            }
        }

        return null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string ReplaceDatabase(string connectionString, string database)
    {
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Where(p => !p.TrimStart().StartsWith("Database=", StringComparison.OrdinalIgnoreCase))
            .Append("Database=" + database);
        return string.Join(';', parts);
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo
        {
            FileName = asPostgres ? "runuser" : file,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        output.Append(await stdout.ConfigureAwait(false)).Append(await stderr.ConfigureAwait(false));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {output}");
        }
    }
}
