using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace FirstSip.Samples.Web;

/// <summary>The JSON API: plugins, runs (start, list, detail, cancel, live events) and briefings.</summary>
internal static class RunsApi
{
    // One line per event: an indented payload would be split across several `data:` lines.
    private static readonly JsonSerializerOptions EventJson = new(RunRecord.JsonOptions) { WriteIndented = false };

    public static void MapRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/plugins", (IPluginCatalog catalog) => catalog.GetPlugins().Select(PluginRecord.From));

        api.MapGet("/catalog", (IPluginCatalog catalog, SampleSettings settings) => CatalogState.Read(catalog, settings));

        api.MapPost("/runs", StartRunAsync);

        api.MapGet("/queue", async (IPluginRunner runner, Guid? run_id, CancellationToken cancellationToken) =>
            Results.Json(await runner.GetQueueAsync(run_id, cancellationToken), RunRecord.JsonOptions));

        api.MapGet("/runs", async (IPluginRunner runner, string? status, string? plugin, string? user_id, int? page, int? page_size, CancellationToken cancellationToken) =>
        {
            PluginRunStatus? filter = null;
            if (status is not null)
            {
                try
                {
                    filter = PluginRunStatusExtensions.ParseWireString(status);
                }
                catch (FormatException e)
                {
                    return Results.BadRequest(new ApiError(e.Message));
                }
            }

            var take = Math.Clamp(page_size ?? 20, 1, 200);
            var result = await runner.ListAsync(
                new PluginRunQuery
                {
                    Statuses = filter is { } one ? [one] : null,
                    PluginName = plugin,
                    UserId = user_id,
                    Skip = Math.Max(0, (page ?? 1) - 1) * take,
                    Take = take,
                },
                cancellationToken);
            return Results.Ok(new { items = result.Items.Select(RunRecord.From), total = result.TotalCount });
        });

        api.MapGet("/runs/{id:guid}", async Task<Results<Ok<RunRecord>, NotFound<ApiError>>> (Guid id, IPluginRunner runner, CancellationToken cancellationToken) =>
            await runner.GetAsync(id, cancellationToken) is { } run
                ? TypedResults.Ok(RunRecord.From(run))
                : TypedResults.NotFound(new ApiError($"no run with id {id}")));

        api.MapPost("/runs/{id:guid}/cancel", async Task<Results<Ok<RunRecord>, NotFound<ApiError>, Conflict<ApiError>>> (Guid id, IPluginRunner runner, CancellationToken cancellationToken) =>
        {
            var cancelled = await runner.CancelAsync(id, "cancelled from the web page", cancellationToken);
            var run = await runner.GetAsync(id, cancellationToken);
            if (run is null)
            {
                return TypedResults.NotFound(new ApiError($"no run with id {id}"));
            }

            return cancelled
                ? TypedResults.Ok(RunRecord.From(run))
                : TypedResults.Conflict(new ApiError($"run {id} already ended ({run.Status.ToWireString()})"));
        });

        api.MapGet("/runs/{id:guid}/events", async Task<IResult> (Guid id, IPluginRunner runner, CancellationToken cancellationToken) =>
            await runner.GetAsync(id, cancellationToken) is null
                ? TypedResults.NotFound(new ApiError($"no run with id {id}"))
                : TypedResults.ServerSentEvents(RunEventsAsync(runner, id, cancellationToken)));

        // The briefing with its Markdown rendered to sanitized HTML (summary_html, sections[].content_html).
        api.MapGet("/runs/{id:guid}/briefing", async Task<Results<Ok<BriefingView>, NotFound<ApiError>>> (Guid id, BriefingsDbContext db, CancellationToken cancellationToken) =>
            await db.Briefings.AsNoTracking().SingleOrDefaultAsync(b => b.RunId == id, cancellationToken) is { } briefing
                ? TypedResults.Ok(BriefingView.From(briefing))
                : TypedResults.NotFound(new ApiError($"run {id} has no briefing")));

        api.MapGet("/briefings", async (BriefingsDbContext db, string? user_id, CancellationToken cancellationToken) =>
        {
            var query = db.Briefings.AsNoTracking();
            if (user_id is not null)
            {
                query = query.Where(b => b.UserId == user_id);
            }

            return await query.OrderByDescending(b => b.CreatedAt).Take(50).ToListAsync(cancellationToken);
        });
    }

    private static async Task<IResult> StartRunAsync(StartRunBody body, IPluginRunner runner, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Plugin))
        {
            return TypedResults.BadRequest(new ApiError("plugin is required"));
        }

        try
        {
            var run = await runner.StartAsync(
                new StartPluginRunRequest
                {
                    PluginName = body.Plugin,
                    UserId = string.IsNullOrWhiteSpace(body.UserId) ? "1" : body.UserId,
                    Settings = body.Settings,
                    IdempotencyKey = body.IdempotencyKey,
                },
                cancellationToken);
            return TypedResults.Created($"/api/runs/{run.RunId}", RunRecord.From(run));
        }
        catch (UnknownPluginException e)
        {
            return TypedResults.BadRequest(new ApiError(e.Message));
        }
        catch (InvalidPluginSettingsException e)
        {
            return TypedResults.BadRequest(new ApiError($"invalid settings for plugin {e.PluginName}", e.Errors));
        }
    }

    private static async IAsyncEnumerable<SseItem<string>> RunEventsAsync(
        IPluginRunner runner, Guid id, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var update in runner.WatchAsync(id, cancellationToken))
        {
            // Serialized here with the API's snake_case options (the SSE writer would use its own defaults).
            yield return new SseItem<string>(JsonSerializer.Serialize(RunUpdateRecord.From(update), EventJson), "update");
            if (update.IsTerminal)
            {
                yield break;
            }
        }
    }
}

/// <summary>The body of <c>POST /api/runs</c>.</summary>
internal sealed record StartRunBody(string? Plugin, string? UserId, JsonObject? Settings, string? IdempotencyKey);

/// <summary>An error answer: a message and, for invalid settings, every failing path.</summary>
internal sealed record ApiError(string Error, IReadOnlyList<PluginSettingsError>? Errors = null);

/// <summary>One server-sent event of a run.</summary>
internal sealed record RunUpdateRecord(Guid RunId, string Status, string Kind, string? Step, string? Message, string? LastStep, string? Error, int Attempt, DateTimeOffset At)
{
    public static RunUpdateRecord From(PluginRunUpdate update) => new(
        update.RunId,
        update.Status.ToWireString(),
        update.Kind == PluginRunUpdateKind.Progress ? update.ProgressKind ?? "progress" : "status",
        update.Step,
        update.Message,
        update.LastStep,
        update.Error,
        update.Attempt,
        update.At);
}
