using System.Globalization;
using System.Net;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>The web host started as a process (<c>dotnet FirstSip.Samples.Web.dll --urls …</c>) on a free loopback port.</summary>
internal sealed class WebHost : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private WebHost(ChildProcess process, Uri address, string database)
    {
        _process = process;
        Address = address;
        Database = database;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }

    public string Database { get; }

    public HttpClient Client { get; }

    public string Output => _process.Output;

    /// <summary>Starts the web host and waits until it is ready (or, with <paramref name="probe"/>, until that path answers 200).</summary>
    public static async Task<WebHost> StartAsync(Lane lane, string database, IReadOnlyDictionary<string, string?>? extra = null, string probe = "/health/ready")
    {
        var variables = new Dictionary<string, string?>(lane.HostVariables(database));
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            variables[key] = value;
        }

        var port = FreePort.Next();
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        var process = ChildProcess.Start(
            "web",
            "dotnet",
            [
                Path.Combine(AppContext.BaseDirectory, "FirstSip.Samples.Web.dll"),
                "--urls", address.ToString().TrimEnd('/'),
                "--contentRoot", Path.Combine(Repository.Root, "samples", "FirstSip.Samples.Web"),
            ],
            variables);
        var host = new WebHost(process, address, database);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var response = await host.Client.GetAsync(new Uri(probe, UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return host;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(100);
        }

        var output = process.Output;
        await host.DisposeAsync();
        throw new InvalidOperationException($"the web host did not become ready within 60 s. Its output:\n{output}");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _process.DisposeAsync();
    }
}
