using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>Builds the generic host behind every command, configured as a user's app would be.</summary>
internal static class ConsoleApp
{
    public static IHost Build(bool verbose = false)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = Directory.GetCurrentDirectory(),
            DisableDefaults = false,
        });
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true);
        builder.Configuration.AddEnvironmentVariables();

        // The terminal belongs to the command's output; logs go to stderr, and only warnings unless `worker`.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (verbose)
        {
            builder.Logging.AddFilter("FirstSip", LogLevel.Information);
        }

        builder.Services.AddFirstSipSample(builder.Configuration);
        return builder.Build();
    }
}
