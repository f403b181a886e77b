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
        if (verbose)
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
            builder.Logging.AddFilter("FirstSip", LogLevel.Information);
        }
        else
        {
            builder.Logging.AddConsole(o => o.FormatterName = CompactConsoleFormatter.FormatterName)
                .AddConsoleFormatter<CompactConsoleFormatter, Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions>();
        }

        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        // Ctrl+C and SIGTERM stop the host; the commands watch for that too (see Commands.StoppingToken), and nothing
        // is printed about it here.
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

        builder.Services.AddFirstSipSample(builder.Configuration);
        return builder.Build();
    }
}
