using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;
using Microsoft.Extensions.Options;

namespace FirstSip.Samples.Web;

/// <summary>Settings of the operations dashboard (<c>FirstSip:Dashboard</c>).</summary>
public sealed class DashboardOptions
{
    /// <summary>Gets or sets whether the dashboard's API is served at all (the deployment manifests turn it off until a policy is configured).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets whether the dashboard only shows: no cancel, retry, clone, replay or delete.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// Gets or sets the authorization policy (registered by the host with <c>AddAuthorization</c>) the dashboard's API requires.
    /// Required when the host listens on anything but loopback: without it the host refuses to start.
    /// </summary>
    public string? Policy { get; set; }
}

/// <summary>
/// The operations dashboard's API under <c>/ops/api</c> (the page is <c>/ops/</c>): overview, queues, workers, runs with
/// search, a run's timeline, failures, dead letters, run actions, and a server-sent event stream that tells the page to refresh.
/// </summary>
internal static class OperationsApi
{
    private static readonly JsonSerializerOptions EventJson = new(RunRecord.JsonOptions) { WriteIndented = false };

    /// <summary>Registers the dashboard's options and authorization, and checks that a host bound beyond loopback names a policy.</summary>
    public static void AddOperationsDashboard(this WebApplicationBuilder builder)
    {
        var urls = ListenUrls(builder.Configuration);
        var options = builder.Configuration.GetSection("FirstSip:Dashboard").Get<DashboardOptions>() ?? new DashboardOptions();
        builder.Services.Configure<DashboardOptions>(builder.Configuration.GetSection("FirstSip:Dashboard"));
        builder.Services.AddAuthorization();
        var exposed = urls.Where(url => !IsLoopback(url)).ToList();
        if (options.Enabled && exposed.Count > 0 && string.IsNullOrWhiteSpace(options.Policy))
        {
            throw new InvalidOperationException(
                $"The operations dashboard would be reachable beyond this machine ({string.Join(", ", exposed)}) without authorization. " +
                "Register an authorization policy and name it in FirstSip:Dashboard:Policy (FirstSip__Dashboard__Policy), bind to 127.0.0.1, " +
                "or turn the dashboard off with FirstSip:Dashboard:Enabled=false.");
        }
    }

    /// <summary>Where the host listens, as configured (<c>urls</c>, <c>http_ports</c>, <c>https_ports</c>), or the sample's loopback default.</summary>
    internal static IReadOnlyList<string> ListenUrls(IConfiguration configuration)
    {
        var urls = new List<string>();
        if (configuration["urls"] is { Length: > 0 } configured)
        {
            urls.AddRange(configured.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        foreach (var (key, scheme) in new[] { ("http_ports", "http"), ("https_ports", "https") })
        {
            if (configuration[key] is { Length: > 0 } ports)
            {
                // Ports alone listen on every interface.
                urls.AddRange(ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(port => $"{scheme}://*:{port}"));
            }
        }

        return urls.Count > 0 ? urls : ["http://127.0.0.1:5080"];
    }

    /// <summary>Whether a listen URL only accepts connections from this machine.</summary>
    internal static bool IsLoopback(string url)
    {
        var text = url.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var rest = scheme >= 0 ? text[(scheme + 3)..] : text;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            rest = rest[..slash];
        }

        string host;
        if (rest.StartsWith('['))
        {
            host = rest[1..rest.IndexOf(']', StringComparison.Ordinal)];
        }
        else
        {
            var colon = rest.LastIndexOf(':');
            host = colon >= 0 ? rest[..colon] : rest;
        }

        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    public static void MapOperationsApi(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<DashboardOptions>>().Value;
        if (!options.Enabled)
        {
            return;
        }

        var api = app.MapGroup("/ops/api");
        if (!string.IsNullOrWhiteSpace(options.Policy))
        {
            api.RequireAuthorization(options.Policy);
        }

        api.MapGet("/config", (IOptions<DashboardOptions> o) => Results.Json(new { read_only = o.Value.ReadOnly }, RunRecord.JsonOptions));
        api.MapGet("/overview", OverviewAsync);
        api.MapGet("/queues", async (IStreamOperations streams, CancellationToken cancellationToken) =>
            Results.Json(await streams.GetPluginStreamsAsync(cancellationToken), RunRecord.JsonOptions));
        api.MapGet("/workers", async (IStreamOperations streams, CancellationToken cancellationToken) =>
            Results.Json(await streams.ListWorkersAsync(cancellationToken), RunRecord.JsonOptions));
        api.MapGet("/runs", SearchAsync);
        api.MapGet("/runs/{id:guid}", async (Guid id, IPluginOperations operations, CancellationToken cancellationToken) =>
            await operations.GetTimelineAsync(id, cancellationToken) is { } timeline
                ? Results.Json(TimelineRecord.From(timeline), RunRecord.JsonOptions)
                : Results.NotFound(new ApiError($"no run with id {id}")));
        api.MapGet("/failures", async (IPluginOperations operations, int? hours, CancellationToken cancellationToken) =>
            Results.Json(await operations.GetFailureBreakdownAsync(DateTimeOffset.UtcNow.AddHours(-Math.Clamp(hours ?? 24, 1, 24 * 90)), cancellationToken), RunRecord.JsonOptions));
        api.MapGet("/dead", async (IStreamOperations streams, IOptions<PluginStreamsOptions> names, string? stream, string? before, CancellationToken cancellationToken) =>
            Results.Json(await streams.ListDeadLettersAsync(StreamName(names.Value, stream), 100, before, cancellationToken), RunRecord.JsonOptions));
        api.MapGet("/dead/{stream}/{id}", async (string stream, string id, IStreamOperations streams, IOptions<PluginStreamsOptions> names, CancellationToken cancellationToken) =>
            await streams.GetDeadLetterAsync(StreamName(names.Value, stream), id, cancellationToken) is { } letter
                ? Results.Json(letter, RunRecord.JsonOptions)
                : Results.NotFound(new ApiError($"no dead letter {id}")));
        api.MapGet("/events", (IServiceScopeFactory scopes, CancellationToken cancellationToken) =>
            TypedResults.ServerSentEvents(TicksAsync(scopes, cancellationToken)));

        var actions = api.MapGroup("").AddEndpointFilter(async (context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<IOptions<DashboardOptions>>().Value.ReadOnly
                ? Results.Json(new ApiError("the dashboard is read-only"), RunRecord.JsonOptions, statusCode: StatusCodes.Status403Forbidden)
                : await next(context));
        actions.MapPost("/runs/{id:guid}/cancel", async (Guid id, IPluginOperations operations, CancellationToken cancellationToken) =>
            ActionResult(await operations.CancelAsync(id, "cancelled from the dashboard", cancellationToken)));
        actions.MapPost("/runs/{id:guid}/retry", async (Guid id, IPluginOperations operations, CancellationToken cancellationToken) =>
            ActionResult(await operations.RetryAsync(id, cancellationToken)));
        actions.MapPost("/runs/{id:guid}/clone", async (Guid id, IPluginOperations operations, CancellationToken cancellationToken) =>
            await operations.CloneAsync(id, cancellationToken) is { } clone
                ? Results.Json(RunRecord.From(clone), RunRecord.JsonOptions)
                : Results.NotFound(new ApiError($"no run with id {id}")));
        actions.MapPost("/dead/{stream}/{id}/replay", async (string stream, string id, IPluginOperations operations, IOptions<PluginStreamsOptions> names, CancellationToken cancellationToken) =>
        {
            var result = await operations.ReplayDeadLetterAsync(StreamName(names.Value, stream), id, cancellationToken);
            var body = new { outcome = result.Outcome.ToString(), entry_id = result.EntryId, run = result.Run is null ? null : RunRecord.From(result.Run) };
            return result.Outcome switch
            {
                DeadLetterReplayOutcome.NotFound => Results.Json(body, RunRecord.JsonOptions, statusCode: StatusCodes.Status404NotFound),
                DeadLetterReplayOutcome.RunNotRetryable => Results.Json(body, RunRecord.JsonOptions, statusCode: StatusCodes.Status409Conflict),
                _ => Results.Json(body, RunRecord.JsonOptions),
            };
        });
        actions.MapDelete("/dead/{stream}/{id}", async (string stream, string id, IStreamOperations streams, IOptions<PluginStreamsOptions> names, CancellationToken cancellationToken) =>
            await streams.DeleteDeadLetterAsync(StreamName(names.Value, stream), id, cancellationToken) ? Results.NoContent() : Results.NotFound(new ApiError($"no dead letter {id}")));
        actions.MapPost("/dead/{stream}/purge", async (string stream, IStreamOperations streams, IOptions<PluginStreamsOptions> names, CancellationToken cancellationToken) =>
            Results.Json(new { deleted = await streams.PurgeDeadLettersAsync(StreamName(names.Value, stream), cancellationToken) }, RunRecord.JsonOptions));
    }

    /// <summary>The dashboard names the plugin streams by their role; anything else is not a stream it shows.</summary>
    private static string StreamName(PluginStreamsOptions names, string? stream) => stream switch
    {
        "results" => names.ResultsStream,
        "events" => names.EventsStream,
        _ => names.RequestsStream,
    };

    private static IResult ActionResult(PluginRunActionResult result)
    {
        var body = new { outcome = result.Outcome.ToString(), run = result.Run is null ? null : RunRecord.From(result.Run) };
        var status = result.Outcome switch
        {
            PluginRunActionOutcome.Done => StatusCodes.Status200OK,
            PluginRunActionOutcome.NotFound => StatusCodes.Status404NotFound,
            _ => StatusCodes.Status409Conflict,
        };
        return Results.Json(body, RunRecord.JsonOptions, statusCode: status);
    }

    private static async Task<IResult> SearchAsync(IPluginOperations operations, string? q, string? status, string? plugin, string? user_id, int? page, CancellationToken cancellationToken)
    {
        PluginRunStatus[]? statuses = null;
        if (!string.IsNullOrEmpty(status))
        {
            try
            {
                statuses = [PluginRunStatusExtensions.ParseWireString(status)];
            }
            catch (FormatException e)
            {
                return Results.BadRequest(new ApiError(e.Message));
            }
        }

        const int Take = 25;
        var result = await operations.SearchRunsAsync(
            new PluginRunSearch { Text = q, Statuses = statuses, PluginName = plugin, UserId = user_id, Skip = Math.Max(0, (page ?? 1) - 1) * Take, Take = Take },
            cancellationToken);
        return Results.Json(new { items = result.Items.Select(RunRecord.From), total = result.TotalCount, page = page ?? 1, page_size = Take }, RunRecord.JsonOptions);
    }

    private static async Task<IResult> OverviewAsync(IPluginOperations operations, IPluginRunner runner, IStreamOperations streams, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var hourAgo = now.AddHours(-1);
        var since = new DateTimeOffset(hourAgo.Year, hourAgo.Month, hourAgo.Day, hourAgo.Hour, hourAgo.Minute, 0, TimeSpan.Zero).AddMinutes(1);
        var activity = await operations.GetActivityAsync(since, TimeSpan.FromMinutes(1), cancellationToken);
        var failures = await operations.GetFailureBreakdownAsync(hourAgo, cancellationToken);
        var queue = await runner.GetQueueAsync(cancellationToken: cancellationToken);
        IReadOnlyList<PluginWorker> workers = [];
        long deadLetters = 0;
        string? redisError = null;
        try
        {
            workers = await streams.ListWorkersAsync(cancellationToken);
            deadLetters = (await streams.GetPluginStreamsAsync(cancellationToken)).Sum(s => s.DeadLetters);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            redisError = e.Message;
        }

        var ended = activity.Sum(b => b.Completed + b.Failed + b.TimedOut + b.Cancelled);
        var unsuccessful = activity.Sum(b => b.Failed + b.TimedOut);
        return Results.Json(
            new
            {
                activity,
                ended_last_hour = ended,
                failure_rate = ended == 0 ? 0 : (double)unsuccessful / ended,
                failures = failures.Take(5),
                queue,
                workers = workers.Count,
                slots = workers.Sum(w => w.Slots),
                busy = workers.Sum(w => w.InFlight.Count),
                dead_letters = deadLetters,
                redis_error = redisError,
            },
            RunRecord.JsonOptions);
    }

    /// <summary>
    /// Every two seconds, a small summary (the queue's counts, the runs ended in the last two minutes by outcome, the
    /// newest run, the workers and the dead letters); it is sent when it changed, and the page then refreshes its view.
    /// </summary>
    private static async IAsyncEnumerable<SseItem<string>> TicksAsync(IServiceScopeFactory scopes, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? last = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            string tick;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var runner = scope.ServiceProvider.GetRequiredService<IPluginRunner>();
                var operations = scope.ServiceProvider.GetRequiredService<IPluginOperations>();
                var streams = scope.ServiceProvider.GetRequiredService<IStreamOperations>();
                var queue = await runner.GetQueueAsync(cancellationToken: cancellationToken);
                var latest = await operations.SearchRunsAsync(new PluginRunSearch { Take = 1 }, cancellationToken);
                var ended = await operations.GetActivityAsync(DateTimeOffset.UtcNow.AddMinutes(-2), TimeSpan.FromMinutes(2), cancellationToken);
                int workers;
                long dead;
                try
                {
                    var list = await streams.ListWorkersAsync(cancellationToken);
                    workers = list.Count * 1000 + list.Sum(w => w.InFlight.Count);
                    dead = (await streams.GetPluginStreamsAsync(cancellationToken)).Sum(s => s.DeadLetters);
                }
                catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
                {
                    workers = -1;
                    dead = -1;
                }

                tick = JsonSerializer.Serialize(
                    new
                    {
                        pending = queue.Pending,
                        waiting = queue.Waiting,
                        running = queue.Running,
                        total = latest.TotalCount,
                        latest = latest.Items.Count > 0 ? latest.Items[0].RunId : (Guid?)null,
                        completed = ended.Sum(b => b.Completed),
                        failed = ended.Sum(b => b.Failed),
                        timed_out = ended.Sum(b => b.TimedOut),
                        cancelled = ended.Sum(b => b.Cancelled),
                        workers,
                        dead,
                    },
                    EventJson);
            }

            if (tick != last)
            {
                last = tick;
                yield return new SseItem<string>(tick, "tick");
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }
}
