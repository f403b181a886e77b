using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;
using Testcontainers.Redis;
using Xunit;

namespace FirstSip.Testing;

/// <summary>
/// A real Redis server for a test run, found or started in this order:
/// <list type="number">
/// <item><c>FIRSTSIP_REDIS</c> (a StackExchange.Redis configuration string) when set;</item>
/// <item>a Testcontainers Redis container when a Docker engine answers a bounded <c>GET /_ping</c> (about 1 s);</item>
/// <item><c>redis-server</c> from <c>PATH</c> on a free loopback port, without persistence, stopped by its process handle;</item>
/// <item>otherwise it fails at once with the remedy. It never skips.</item>
/// </list>
/// </summary>
/// <remarks>
/// Tests share the server and isolate themselves by key prefix (<see cref="NewPrefix"/>); nothing flushes it.
/// A server this fixture started can be stopped and started again on the same port (<see cref="StopAsync"/>,
/// <see cref="StartAsync"/>) to test an outage; <see cref="KillClientsAsync"/> drops client connections.
/// Use it as an xunit collection fixture (<c>ICollectionFixture&lt;RedisServer&gt;</c>), or create a private one
/// with <see cref="StartPrivateAsync"/> for tests that take the server down.
/// </remarks>
public sealed class RedisServer : IAsyncLifetime
{
    /// <summary>The message of the failure when no Redis can be found or started.</summary>
    public const string Remedy = "redis-server not found: run ./run test (installs it) or apt-get install redis-server, or set FIRSTSIP_REDIS";

    private Process? _process;
    private RedisContainer? _container;
    private int _port;
    private ConnectionMultiplexer? _admin;
    private bool _privateOnly;
    private bool _spawned;

    /// <summary>Gets the StackExchange.Redis configuration string of the server.</summary>
    public string ConnectionString { get; private set; } = string.Empty;

    /// <summary>Gets where the server came from: <c>FIRSTSIP_REDIS</c>, <c>testcontainers</c> or <c>redis-server</c>.</summary>
    public string Source { get; private set; } = string.Empty;

    /// <summary>Gets a value indicating whether this fixture runs the server and so can stop and restart it.</summary>
    public bool CanRestart => _spawned || _container is not null;

    /// <summary>Gets a connection for test setup and assertions (not for the code under test).</summary>
    public IConnectionMultiplexer Connection => _admin ?? throw new InvalidOperationException("The Redis fixture is not initialized.");

    /// <summary>Gets the default database of <see cref="Connection"/>.</summary>
    public IDatabase Database => Connection.GetDatabase();

    /// <summary>Starts a server only this caller uses (a spawned redis-server, or a container), for tests that stop it.</summary>
    /// <returns>The started server; dispose it with <see cref="DisposeAsync"/>.</returns>
    public static async Task<RedisServer> StartPrivateAsync()
    {
        var server = new RedisServer { _privateOnly = true };
        await server.InitializeAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>Returns a new key prefix, <c>firstsip:test:&lt;guid&gt;:</c>, for one test's streams and keys.</summary>
    /// <returns>The prefix.</returns>
    public static string NewPrefix() => $"firstsip:test:{Guid.NewGuid():N}:";

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable("FIRSTSIP_REDIS");
        if (!_privateOnly && !string.IsNullOrWhiteSpace(external))
        {
            ConnectionString = external;
            Source = "FIRSTSIP_REDIS";
        }
        else if (await DockerAnswersAsync().ConfigureAwait(false))
        {
            _container = new RedisBuilder("redis:7.0").Build();
            await _container.StartAsync().ConfigureAwait(false);
            ConnectionString = _container.GetConnectionString();
            Source = "testcontainers";
        }
        else
        {
            _port = FreePort();
            await SpawnAsync().ConfigureAwait(false);
            Source = "redis-server";
        }

        _admin = await ConnectAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync().ConfigureAwait(false);
        }

        StopProcess();
        if (_container is not null)
        {
            await _container.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops the server (an outage). Only for a server this fixture runs.</summary>
    /// <returns>A task that completes when the server is down.</returns>
    public async Task StopAsync()
    {
        EnsureCanRestart();
        if (_container is not null)
        {
            await _container.StopAsync().ConfigureAwait(false);
            return;
        }

        StopProcess();
    }

    /// <summary>Starts the server again after <see cref="StopAsync"/>, on the same port, with no data (no persistence).</summary>
    /// <returns>A task that completes when the server answers PING.</returns>
    public async Task StartAsync()
    {
        EnsureCanRestart();
        if (_container is not null)
        {
            await _container.StartAsync().ConfigureAwait(false);
            ConnectionString = _container.GetConnectionString();
            return;
        }

        await SpawnAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Drops client connections with <c>CLIENT KILL</c>, except the fixture's own: those whose client name
    /// satisfies <paramref name="nameFilter"/>, or every normal client when it is null.
    /// </summary>
    /// <param name="nameFilter">Selects clients by name (<c>CLIENT SETNAME</c>, StackExchange.Redis <c>ClientName</c>).</param>
    /// <returns>The number of connections killed.</returns>
    public async Task<int> KillClientsAsync(Func<string, bool>? nameFilter = null)
    {
        var server = Connection.GetServer(Connection.GetEndPoints()[0]);
        if (nameFilter is null)
        {
            var killed = await server.ExecuteAsync("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").ConfigureAwait(false);
            return (int)killed;
        }

        var list = (string?)await server.ExecuteAsync("CLIENT", "LIST", "TYPE", "normal").ConfigureAwait(false) ?? string.Empty;
        var count = 0;
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string? id = null;
            var name = string.Empty;
            foreach (var part in line.Split(' '))
            {
                if (part.StartsWith("id=", StringComparison.Ordinal))
                {
                    id = part[3..];
                }
                else if (part.StartsWith("name=", StringComparison.Ordinal))
                {
                    name = part[5..];
                }
            }

            if (id is not null && nameFilter(name))
            {
                count += (int)await server.ExecuteAsync("CLIENT", "KILL", "ID", id).ConfigureAwait(false);
            }
        }

        return count;
    }

    private void EnsureCanRestart()
    {
        if (!CanRestart)
        {
            throw new InvalidOperationException("This Redis comes from FIRSTSIP_REDIS and cannot be stopped by the tests; use RedisServer.StartPrivateAsync().");
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var options = ConfigurationOptions.Parse(ConnectionString);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = true;
        options.ClientName = "firstsip-test-fixture";
        var connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                await connection.GetDatabase().PingAsync().ConfigureAwait(false);
                return connection;
            }
            catch (RedisException) when (!timeout.IsCancellationRequested)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
    }

    private async Task SpawnAsync()
    {
        var executable = FindOnPath("redis-server") ?? throw new InvalidOperationException(Remedy);
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "--port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", string.Empty, "--appendonly", "no", "--bind", "127.0.0.1" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        _spawned = true;
        ConnectionString = $"127.0.0.1:{_port}";

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} on port {_port}.");
            }

            if (await PortAnswersAsync(_port).ConfigureAwait(false))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server did not answer on port {_port} within 20 s.");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    private void StopProcess()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    private static async Task<bool> PortAnswersAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            return read > 0 && Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string? FindOnPath(string name)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A bounded <c>GET /_ping</c> to the Docker engine (DOCKER_HOST or /var/run/docker.sock); false when it does not answer within about a second.</summary>
    private static async Task<bool> DockerAnswersAsync()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        EndPoint endpoint;
        if (string.IsNullOrWhiteSpace(host) || host.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = string.IsNullOrWhiteSpace(host) ? "/var/run/docker.sock" : host["unix://".Length..];
            if (!File.Exists(path))
            {
                return false;
            }

            endpoint = new UnixDomainSocketEndPoint(path);
        }
        else if (host.StartsWith("tcp://", StringComparison.Ordinal) && Uri.TryCreate(host, UriKind.Absolute, out var uri))
        {
            endpoint = new DnsEndPoint(uri.Host, uri.Port);
        }
        else
        {
            return false;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            using var socket = endpoint is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            await socket.SendAsync("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"u8.ToArray(), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            var buffer = new byte[64];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            var reply = Encoding.ASCII.GetString(buffer, 0, read);
            return reply.StartsWith("HTTP/1.", StringComparison.Ordinal) && reply.Contains(" 200 ", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>The xunit collection name under which test classes share one <see cref="RedisServer"/>.</summary>
/// <remarks>
/// xunit needs the collection definition in the test assembly itself:
/// <c>[CollectionDefinition(RedisCollections.Name)] public sealed class RedisCollectionDefinition : ICollectionFixture&lt;RedisServer&gt; { }</c>.
/// </remarks>
public static class RedisCollections
{
    /// <summary>The collection name.</summary>
    public const string Name = "redis";
}
