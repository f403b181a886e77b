using System.Text.Json.Nodes;
using FirstSip.Plugins;
using FirstSip.Samples.Briefings;
using FirstSip.Streams;

namespace FirstSip.Samples.Web;

/// <summary>The schedules API: a user's recurring runs (list, add, pause, resume, remove, trigger, preview), with next run times in each schedule's zone.</summary>
internal static class SchedulesApi
{
    public static void MapSchedulesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/schedules");

        api.MapGet("/", async (IPluginScheduler scheduler, TimeProvider time, string? user_id, string? plugin, int? upcoming, CancellationToken cancellationToken) =>
        {
            var schedules = await scheduler.ListAsync(new PluginScheduleQuery { UserId = user_id, PluginName = plugin, Take = 1000 }, cancellationToken);
            var now = time.GetUtcNow();
            return Results.Json(schedules.Select(s => ScheduleRecord.From(s, Math.Clamp(upcoming ?? 3, 0, 20), now)), RunRecord.JsonOptions);
        });

        api.MapPost("/", AddAsync);

        api.MapGet("/{id:guid}", async (Guid id, IPluginScheduler scheduler, TimeProvider time, CancellationToken cancellationToken) =>
            await scheduler.GetAsync(id, cancellationToken) is { } schedule
                ? Results.Json(ScheduleRecord.From(schedule, 5, time.GetUtcNow()), RunRecord.JsonOptions)
                : NotFound(id));

        api.MapGet("/{id:guid}/preview", async (Guid id, int? count, IPluginScheduler scheduler, CancellationToken cancellationToken) =>
        {
            var wanted = count ?? 10;
            if (wanted is < 1 or > PluginScheduleCron.MaxOccurrences)
            {
                return Results.BadRequest(new ApiError($"count must be between 1 and {PluginScheduleCron.MaxOccurrences}"));
            }

            return await scheduler.PreviewAsync(id, wanted, cancellationToken) is { } occurrences ? Results.Json(occurrences, RunRecord.JsonOptions) : NotFound(id);
        });

        api.MapPost("/{id:guid}/pause", (Guid id, IPluginScheduler scheduler, TimeProvider time, CancellationToken cancellationToken) =>
            ChangeAsync(id, time, () => scheduler.PauseAsync(id, "paused from the web page", cancellationToken)));

        api.MapPost("/{id:guid}/resume", (Guid id, IPluginScheduler scheduler, TimeProvider time, CancellationToken cancellationToken) =>
            ChangeAsync(id, time, () => scheduler.ResumeAsync(id, cancellationToken)));

        api.MapPost("/{id:guid}/trigger", async (Guid id, IPluginScheduler scheduler, CancellationToken cancellationToken) =>
        {
            try
            {
                return await scheduler.TriggerAsync(id, cancellationToken) is { } run
                    ? Results.Json(RunRecord.From(run), RunRecord.JsonOptions, statusCode: StatusCodes.Status202Accepted)
                    : NotFound(id);
            }
            catch (FirstSipException e)
            {
                return Refused(e);
            }
        });

        api.MapDelete("/{id:guid}", async (Guid id, IPluginScheduler scheduler, CancellationToken cancellationToken) =>
            await scheduler.DeleteAsync(id, cancellationToken) ? Results.NoContent() : NotFound(id));
    }

    private static async Task<IResult> AddAsync(ScheduleForm form, IPluginScheduler scheduler, IPluginCatalog catalog, TimeProvider time, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(form.Plugin) || string.IsNullOrWhiteSpace(form.UserId))
        {
            return Results.BadRequest(new ApiError("plugin and user_id are required"));
        }

        try
        {
            var weeklyOn = Enum.TryParse<DayOfWeek>(form.Day, ignoreCase: true, out var day) ? day : DayOfWeek.Monday;
            var cron = !string.IsNullOrWhiteSpace(form.Cron) ? form.Cron
                : form.Frequency is { } frequency && form.Time is { } at ? PluginScheduleCron.FromOriginalSettings(frequency, at, weeklyOn)
                : catalog.GetPlugin(form.Plugin) is not null ? ScheduleRecord.CronFromSettings(catalog.ValidateSettings(form.Plugin, form.Settings).Settings, weeklyOn)
                : null;
            if (cron is null)
            {
                return Results.BadRequest(new ApiError("say when: cron, or frequency (daily or weekly) and time (HH:MM)"));
            }

            var schedule = await scheduler.CreateAsync(
                new CreatePluginScheduleRequest
                {
                    PluginName = form.Plugin,
                    UserId = form.UserId,
                    Settings = form.Settings,
                    CronExpression = cron,
                    TimeZone = string.IsNullOrWhiteSpace(form.TimeZone) ? "UTC" : form.TimeZone,
                    MisfirePolicy = form.Misfire is { } misfire ? ScheduleRecord.ParseMisfire(misfire) : PluginScheduleMisfirePolicy.RunOnce,
                    OverlapPolicy = form.Overlap is { } overlap ? ScheduleRecord.ParseOverlap(overlap) : PluginScheduleOverlapPolicy.Skip,
                    MaxMisfireRuns = form.MaxMisfireRuns ?? 10,
                },
                cancellationToken);
            return Results.Json(ScheduleRecord.From(schedule, 3, time.GetUtcNow()), RunRecord.JsonOptions, statusCode: StatusCodes.Status201Created);
        }
        catch (InvalidPluginSettingsException e)
        {
            return Results.BadRequest(new ApiError(e.Message, e.Errors));
        }
        catch (Exception e) when (e is FirstSipException or FormatException)
        {
            return Results.BadRequest(new ApiError(e.Message));
        }
    }

    private static async Task<IResult> ChangeAsync(Guid id, TimeProvider time, Func<Task<PluginSchedule?>> change)
    {
        try
        {
            return await change() is { } schedule ? Results.Json(ScheduleRecord.From(schedule, 3, time.GetUtcNow()), RunRecord.JsonOptions) : NotFound(id);
        }
        catch (FirstSipException e)
        {
            return Refused(e);
        }
    }

    private static IResult NotFound(Guid id) => Results.NotFound(new ApiError($"no schedule with id {id}"));

    private static IResult Refused(FirstSipException e) =>
        Results.Conflict(new ApiError(e.Message, (e as InvalidPluginSettingsException)?.Errors));

    /// <summary>The body of <c>POST /api/schedules</c> (snake_case JSON).</summary>
    internal sealed record ScheduleForm(
        string? Plugin,
        string? UserId,
        string? Cron,
        string? Frequency,
        string? Time,
        string? Day,
        string? TimeZone,
        JsonObject? Settings,
        string? Misfire,
        string? Overlap,
        int? MaxMisfireRuns);
}
