using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Samples.Web;
using FirstSip.Streams;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

var builder = WebApplication.CreateBuilder(args);

// Bound to loopback unless the deployment says otherwise (--urls, ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS).
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
{
    builder.WebHost.UseUrls("http://127.0.0.1:5080");
}

builder.Services.AddFirstSipSample(builder.Configuration);
builder.AddOperationsDashboard();
builder.Services.AddHealthChecks()
    .AddPluginStreams(tags: ["ready"])
    .AddDbContextCheck<BriefingsDbContext>("database", tags: ["ready"])
    .AddCheck<CatalogHealthCheck>("catalog", tags: ["ready"])
    // Runs nobody publishes (Redis unreachable for a minute) are reported, without taking the host out of rotation.
    .AddPluginRunStore(failureStatus: HealthStatus.Degraded, tags: ["ready"]);
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.PropertyNamingPolicy = RunRecord.JsonOptions.PropertyNamingPolicy;
    o.SerializerOptions.DefaultIgnoreCondition = RunRecord.JsonOptions.DefaultIgnoreCondition;
});

// One trace from the click to the briefing: ASP.NET Core's request span, the run's start, the publish to
// plugin:requests, the sidecar's execution (its traceparent goes back on the result) and the result's application.
var telemetry = builder.Services.AddOpenTelemetry()
    .ConfigureResource(r => r.AddService("firstsip-web"))
    .WithTracing(tracing => tracing
        .AddSource(PluginStreamsTelemetry.ActivitySourceName, PluginRunsTelemetry.ActivitySourceName)
        .AddAspNetCoreInstrumentation(o => o.Filter = context => context.Request.Path.StartsWithSegments("/api")))
    .WithMetrics(metrics => metrics
        .AddMeter(PluginStreamsTelemetry.MeterName, PluginRunsTelemetry.MeterName)
        .AddAspNetCoreInstrumentation());
if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
{
    telemetry.UseOtlpExporter();
}
else if (builder.Configuration.GetValue<bool>("FIRSTSIP_TRACE_CONSOLE"))
{
    telemetry.WithTracing(tracing => tracing.AddConsoleExporter());
}

var app = builder.Build();
await app.Services.EnsureSampleDatabaseAsync();

// Say where everything is read from: relative paths are resolved against the repository root, not the project folder.
var settings = app.Services.GetRequiredService<SampleSettings>();
var catalog = CatalogState.Read(app.Services.GetRequiredService<IPluginCatalog>(), settings);
app.Logger.Settings(catalog.PluginDirectory, catalog.Plugins, settings.UsesPostgres ? "PostgreSQL" : settings.Database);
if (catalog.Problem is { } problem)
{
    app.Logger.CatalogEmpty(problem);
}

app.UseDefaultFiles();
app.UseStaticFiles();
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
app.MapRunsApi();
app.MapSchedulesApi();
app.MapOperationsApi();

app.Run();
