using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace FirstSip.Benchmarks;

/// <summary>
/// The Redis a benchmark process talks to: <c>FIRSTSIP_REDIS</c> when set, otherwise its own
/// <c>redis-server</c> on a free loopback port without persistence, stopped at the end.
/// </summary>
internal sealed class BenchRedis : IDisposable
{
    private readonly Process? _process;

    private BenchRedis(string connectionString, Process? process)
    {
        ConnectionString = connectionString;
        _process = process;
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        Connection = ConnectionMultiplexer.Connect(options);
    }

    public string ConnectionString { get; }

    public ConnectionMultiplexer Connection { get; }

    public static BenchRedis Start()
    {
        var external = Environment.GetEnvironmentVariable("FIRSTSIP_REDIS");
        if (!string.IsNullOrWhiteSpace(external))
        {
            return new BenchRedis(external, null);
        }

        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1" })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server not found: run ./run bench (installs it) or apt-get install redis-server, or set FIRSTSIP_REDIS", ex);
        }

        process.OutputDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
        }

        return new BenchRedis($"127.0.0.1:{port}", process);
    }

    public void Dispose()
    {
        Connection.Dispose();
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
    }
}
