using System.Diagnostics;
using System.Net;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Starts the real Python sidecar (<c>python3 -m firstsip_sidecar</c>) as the run script does.</summary>
internal static class Sidecar
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Reads one of the sidecar's default settings from its own code.</summary>
    public static string DefaultSetting(string name)
    {
        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["PYTHONPATH"] = Repository.Sidecar },
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"from firstsip_sidecar.settings import Settings; print(getattr(Settings.from_env({{}}), '{name}'))");
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"reading the sidecar's default {name} failed: {error}");
        return output;
    }

    /// <summary>Starts a sidecar and waits until its readiness probe answers 200.</summary>
    public static async Task<(ChildProcess Process, int Port)> StartAsync(string name, Lane lane, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var port = FreePort.Next();
        var variables = new Dictionary<string, string?>(lane.SidecarVariables)
        {
            ["SIDECAR_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SIDECAR_CONSUMER_NAME"] = $"{name}-{Guid.NewGuid():N}"[..24],
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            variables[key] = value;
        }

        var process = ChildProcess.Start(name, Python, ["-m", "firstsip_sidecar"], variables);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                break;
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health/ready"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return (process, port);
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // slow to answer; try again
            }

            await Task.Delay(100);
        }

        var output = process.Output;
        await process.DisposeAsync();
        throw new InvalidOperationException($"the sidecar {name} did not become ready within 30 s. Its output:\n{output}");
    }
}
