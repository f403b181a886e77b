using System.Text.Json.Nodes;
using FirstSip.Plugins.Internal.Secrets;
using FirstSip.Plugins.Internal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>The schedules API over the scope's context. Every change is a conditional update on the row's version.</summary>
internal sealed class PluginScheduler(
    RunDbContextAccessor db,
    IPluginCatalog catalog,
    IPluginRunner runner,
    TimeProvider timeProvider,
    ILogger<PluginScheduler> logger) : IPluginScheduler
{
    public const int MaxPageSize = 1000;

    public const int MaxMisfireRunsLimit = 1000;

    public const string NoSecretsProblem =
        "a schedule cannot hold credentials (settings starting with _ such as _llm_api_key); give them to its runs through a secrets provider (AddSecretsProvider)";

    private const int ConflictRetries = 5;

    private DbSet<PluginSchedule> Schedules
    {
        get
        {
            if (!db.HasSchedules)
            {
                throw new InvalidOperationException(
                    "The database context has no plugin schedules: call modelBuilder.AddPluginSchedules() in OnModelCreating and add a migration.");
            }

            return db.Schedules;
        }
    }

    public async Task<PluginSchedule> CreateAsync(CreatePluginScheduleRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.PluginName, nameof(request));
        ArgumentException.ThrowIfNullOrWhiteSpace(request.UserId, nameof(request));
        var plugin = catalog.GetPlugin(request.PluginName) ?? throw new UnknownPluginException(request.PluginName);
        var settings = CheckSettings(plugin, request.Settings);
        var zone = PluginScheduleCron.Validate(request.CronExpression, request.TimeZone);
        CheckCap(request.MaxMisfireRuns);
        CheckPolicies(request.MisfirePolicy, request.OverlapPolicy);

        var now = timeProvider.GetUtcNow();
        var schedule = new PluginSchedule
        {
            ScheduleId = Guid.CreateVersion7(now),
            UserId = request.UserId,
            PluginName = plugin.Name,
            Settings = settings,
            CronExpression = request.CronExpression.Trim(),
            TimeZone = zone,
            Enabled = request.Enabled,
            MisfirePolicy = request.MisfirePolicy,
            MaxMisfireRuns = request.MaxMisfireRuns,
            OverlapPolicy = request.OverlapPolicy,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        schedule.NextFireAt = request.Enabled ? NextAfter(schedule, now) : null;
        if (request.Enabled && schedule.NextFireAt is null)
        {
            throw new InvalidPluginScheduleException($"'{schedule.CronExpression}' has no occurrence after {now:u}");
        }

        Schedules.Add(schedule);
        try
        {
            await db.Context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            db.Context.Entry(schedule).State = EntityState.Detached;
        }

        logger.ScheduleCreated(schedule.ScheduleId, schedule.PluginName, schedule.UserId, schedule.CronExpression, schedule.TimeZone, schedule.NextFireAt);
        return schedule;
    }

    public async Task<PluginSchedule?> UpdateAsync(Guid scheduleId, UpdatePluginScheduleRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MaxMisfireRuns is { } cap)
        {
            CheckCap(cap);
        }

        CheckPolicies(request.MisfirePolicy ?? PluginScheduleMisfirePolicy.Skip, request.OverlapPolicy ?? PluginScheduleOverlapPolicy.Skip);
        return await ChangeAsync(
            scheduleId,
            request.ExpectedVersion,
            "updated",
            (schedule, now) =>
            {
                if (request.Settings is not null)
                {
                    var plugin = catalog.GetPlugin(schedule.PluginName) ?? throw new UnknownPluginException(schedule.PluginName);
                    schedule.Settings = CheckSettings(plugin, request.Settings);
                }

                var timing = request.CronExpression is not null || request.TimeZone is not null;
                schedule.CronExpression = request.CronExpression?.Trim() ?? schedule.CronExpression;
                schedule.TimeZone = PluginScheduleCron.Validate(schedule.CronExpression, request.TimeZone ?? schedule.TimeZone);
                schedule.MisfirePolicy = request.MisfirePolicy ?? schedule.MisfirePolicy;
                schedule.OverlapPolicy = request.OverlapPolicy ?? schedule.OverlapPolicy;
                schedule.MaxMisfireRuns = request.MaxMisfireRuns ?? schedule.MaxMisfireRuns;
                if (timing && schedule.Enabled)
                {
                    schedule.NextFireAt = NextAfter(schedule, now)
                        ?? throw new InvalidPluginScheduleException($"'{schedule.CronExpression}' has no occurrence after {now:u}");
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<PluginSchedule?> PauseAsync(Guid scheduleId, string? reason = null, CancellationToken cancellationToken = default) =>
        ChangeAsync(
            scheduleId,
            null,
            "paused",
            (schedule, _) =>
            {
                schedule.Enabled = false;
                schedule.NextFireAt = null;
                schedule.PausedReason = string.IsNullOrWhiteSpace(reason) ? "paused" : ScheduleFirer.Truncate(reason);
            },
            cancellationToken);

    public Task<PluginSchedule?> ResumeAsync(Guid scheduleId, CancellationToken cancellationToken = default) =>
        ChangeAsync(
            scheduleId,
            null,
            "resumed",
            (schedule, now) =>
            {
                var plugin = catalog.GetPlugin(schedule.PluginName) ?? throw new UnknownPluginException(schedule.PluginName);
                CheckSettings(plugin, JsonNode.Parse(schedule.Settings) as JsonObject);
                if (schedule.Enabled)
                {
                    return;
                }

                schedule.Enabled = true;
                schedule.PausedReason = null;
                schedule.NextFireAt = NextAfter(schedule, now)
                    ?? throw new InvalidPluginScheduleException($"'{schedule.CronExpression}' has no occurrence after {now:u}");
            },
            cancellationToken);

    public async Task<bool> DeleteAsync(Guid scheduleId, CancellationToken cancellationToken = default)
    {
        var deleted = await Schedules.Where(s => s.ScheduleId == scheduleId).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        if (deleted > 0)
        {
            logger.ScheduleDeleted(scheduleId);
        }

        return deleted > 0;
    }

    public Task<PluginSchedule?> GetAsync(Guid scheduleId, CancellationToken cancellationToken = default) =>
        Schedules.AsNoTracking().FirstOrDefaultAsync(s => s.ScheduleId == scheduleId, cancellationToken);

    public async Task<IReadOnlyList<PluginSchedule>> ListAsync(PluginScheduleQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Skip, nameof(query));
        if (query.Take is < 1 or > MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Take, $"Take must be between 1 and {MaxPageSize}");
        }

        var schedules = Schedules.AsNoTracking();
        if (query.UserId is { } userId)
        {
            schedules = schedules.Where(s => s.UserId == userId);
        }

        if (query.PluginName is { } pluginName)
        {
            schedules = schedules.Where(s => s.PluginName == pluginName);
        }

        return await schedules
            .OrderBy(s => s.CreatedAt)
            .ThenBy(s => s.ScheduleId)
            .Skip(query.Skip)
            .Take(query.Take)
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<DateTimeOffset>?> PreviewAsync(Guid scheduleId, int count = 5, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, PluginScheduleCron.MaxOccurrences);
        var schedule = await GetAsync(scheduleId, cancellationToken).ConfigureAwait(false);
        return schedule is null
            ? null
            : PluginScheduleCron.GetOccurrences(schedule.CronExpression, schedule.TimeZone, timeProvider.GetUtcNow(), count);
    }

    public async Task<PluginRun?> TriggerAsync(Guid scheduleId, CancellationToken cancellationToken = default)
    {
        var schedule = await GetAsync(scheduleId, cancellationToken).ConfigureAwait(false);
        if (schedule is null)
        {
            return null;
        }

        var now = timeProvider.GetUtcNow();
        var ownTransaction = db.Context.Database.CurrentTransaction is null
            ? await db.Context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false)
            : null;
        try
        {
            var run = await runner.StartAsync(
                new StartPluginRunRequest
                {
                    PluginName = schedule.PluginName,
                    UserId = schedule.UserId,
                    Settings = JsonNode.Parse(schedule.Settings) as JsonObject,
                },
                cancellationToken).ConfigureAwait(false);
            await Schedules
                .Where(s => s.ScheduleId == scheduleId)
                .ExecuteUpdateAsync(
                    s => s.SetProperty(x => x.LastRunId, run.RunId)
                        .SetProperty(x => x.LastFireAt, now)
                        .SetProperty(x => x.Version, x => x.Version + 1),
                    cancellationToken)
                .ConfigureAwait(false);
            if (ownTransaction is not null)
            {
                await ownTransaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            logger.ScheduleTriggered(scheduleId, run.RunId);
            return run;
        }
        finally
        {
            if (ownTransaction is not null)
            {
                await ownTransaction.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads the row, applies <paramref name="change"/>, and writes it back only if the version did not move; retries on a conflict.</summary>
    private async Task<PluginSchedule?> ChangeAsync(
        Guid scheduleId,
        long? expectedVersion,
        string what,
        Action<PluginSchedule, DateTimeOffset> change,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var schedule = await GetAsync(scheduleId, cancellationToken).ConfigureAwait(false);
            if (schedule is null)
            {
                return null;
            }

            if (expectedVersion is { } expected && expected != schedule.Version)
            {
                throw new PluginScheduleConflictException(scheduleId, expected, schedule.Version);
            }

            var version = schedule.Version;
            var now = timeProvider.GetUtcNow();
            change(schedule, now);
            schedule.UpdatedAt = now;
            schedule.Version = version + 1;
            var changed = await Schedules
                .Where(s => s.ScheduleId == scheduleId && s.Version == version)
                .ExecuteUpdateAsync(
                    s => s.SetProperty(x => x.Settings, schedule.Settings)
                        .SetProperty(x => x.CronExpression, schedule.CronExpression)
                        .SetProperty(x => x.TimeZone, schedule.TimeZone)
                        .SetProperty(x => x.Enabled, schedule.Enabled)
                        .SetProperty(x => x.PausedReason, schedule.PausedReason)
                        .SetProperty(x => x.MisfirePolicy, schedule.MisfirePolicy)
                        .SetProperty(x => x.MaxMisfireRuns, schedule.MaxMisfireRuns)
                        .SetProperty(x => x.OverlapPolicy, schedule.OverlapPolicy)
                        .SetProperty(x => x.NextFireAt, schedule.NextFireAt)
                        .SetProperty(x => x.UpdatedAt, schedule.UpdatedAt)
                        .SetProperty(x => x.Version, schedule.Version),
                    cancellationToken)
                .ConfigureAwait(false);
            if (changed > 0)
            {
                logger.ScheduleChanged(scheduleId, what, schedule.NextFireAt);
                return schedule;
            }

            if (expectedVersion is not null || attempt >= ConflictRetries)
            {
                var current = await GetAsync(scheduleId, cancellationToken).ConfigureAwait(false);
                if (current is null)
                {
                    return null;
                }

                throw new PluginScheduleConflictException(scheduleId, version, current.Version);
            }
        }
    }

    /// <summary>Validates settings as a run's would be, and returns the text to store (the caller's settings, not merged with defaults).</summary>
    private string CheckSettings(PluginDescriptor plugin, JsonObject? settings)
    {
        var (kept, secrets) = RunCredentials.Split(settings?.DeepClone().AsObject(), plugin.SettingsSchemaJson);
        if (secrets.Count > 0)
        {
            throw new PluginSecretsException(plugin.Name, NoSecretsProblem);
        }

        var validation = catalog.ValidateSettings(plugin.Name, kept?.DeepClone().AsObject());
        if (!validation.IsValid)
        {
            throw new InvalidPluginSettingsException(plugin.Name, validation.Errors);
        }

        return (kept ?? []).ToJsonString();
    }

    private static void CheckCap(int cap)
    {
        if (cap is < 1 or > MaxMisfireRunsLimit)
        {
            throw new InvalidPluginScheduleException($"MaxMisfireRuns must be between 1 and {MaxMisfireRunsLimit}, not {cap}");
        }
    }

    private static void CheckPolicies(PluginScheduleMisfirePolicy misfire, PluginScheduleOverlapPolicy overlap)
    {
        if (!Enum.IsDefined(misfire))
        {
            throw new InvalidPluginScheduleException($"unknown misfire policy {misfire}");
        }

        if (!Enum.IsDefined(overlap))
        {
            throw new InvalidPluginScheduleException($"unknown overlap policy {overlap}");
        }
    }

    private static DateTimeOffset? NextAfter(PluginSchedule schedule, DateTimeOffset now) =>
        PluginScheduleCron.Parse(schedule.CronExpression).GetNextOccurrence(now, PluginScheduleCron.FindZone(schedule.TimeZone))?.ToUniversalTime();
}
