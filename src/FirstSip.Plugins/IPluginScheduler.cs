namespace FirstSip.Plugins;

/// <summary>
/// Per-user recurring schedules of plugins, stored in the application's database next to the runs (scoped, like
/// <see cref="IPluginRunner"/>). A hosted scheduler fires each due occurrence once, however many application
/// replicas run it, by starting a run through the outbox.
/// </summary>
public interface IPluginScheduler
{
    /// <summary>Creates a schedule after validating the plugin, its settings, the cron expression and the time zone.</summary>
    /// <param name="request">The schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The stored schedule, with its first occurrence in <see cref="PluginSchedule.NextFireAt"/> when enabled.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    /// <exception cref="InvalidPluginSettingsException">The settings fail the plugin's schema.</exception>
    /// <exception cref="PluginSecretsException">The settings hold credentials (schedules never store secrets).</exception>
    /// <exception cref="InvalidPluginScheduleException">The expression, time zone or cap is not usable.</exception>
    Task<PluginSchedule> CreateAsync(CreatePluginScheduleRequest request, CancellationToken cancellationToken = default);

    /// <summary>Changes a schedule; a new expression or zone recomputes the next occurrence from now.</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="request">What to change.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The changed schedule, or <see langword="null"/> when there is no such schedule.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    /// <exception cref="InvalidPluginSettingsException">The new settings fail the plugin's schema.</exception>
    /// <exception cref="InvalidPluginScheduleException">The new expression, time zone or cap is not usable.</exception>
    /// <exception cref="PluginScheduleConflictException">The schedule changed since <see cref="UpdatePluginScheduleRequest.ExpectedVersion"/>.</exception>
    Task<PluginSchedule?> UpdateAsync(Guid scheduleId, UpdatePluginScheduleRequest request, CancellationToken cancellationToken = default);

    /// <summary>Pauses a schedule: it fires nothing until <see cref="ResumeAsync"/>.</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="reason">Why, shown with the schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The paused schedule, or <see langword="null"/> when there is no such schedule.</returns>
    Task<PluginSchedule?> PauseAsync(Guid scheduleId, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Resumes a paused schedule from its next occurrence after now (occurrences while it was paused are not fired),
    /// after checking again that its plugin exists and its settings are valid.
    /// </summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The resumed schedule, or <see langword="null"/> when there is no such schedule.</returns>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    /// <exception cref="InvalidPluginSettingsException">The settings fail the plugin's schema.</exception>
    Task<PluginSchedule?> ResumeAsync(Guid scheduleId, CancellationToken cancellationToken = default);

    /// <summary>Deletes a schedule. Its runs stay.</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>Whether a schedule was deleted.</returns>
    Task<bool> DeleteAsync(Guid scheduleId, CancellationToken cancellationToken = default);

    /// <summary>Gets one schedule.</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The schedule, or <see langword="null"/>.</returns>
    Task<PluginSchedule?> GetAsync(Guid scheduleId, CancellationToken cancellationToken = default);

    /// <summary>Lists schedules, oldest first.</summary>
    /// <param name="query">Filters and paging.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The matching schedules.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="query"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The paging is out of range.</exception>
    Task<IReadOnlyList<PluginSchedule>> ListAsync(PluginScheduleQuery query, CancellationToken cancellationToken = default);

    /// <summary>Computes the schedule's next occurrences after now, in its time zone (each value carries the zone's offset at that instant).</summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="count">How many (1 to 1000).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The occurrences, or <see langword="null"/> when there is no such schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is out of range.</exception>
    Task<IReadOnlyList<DateTimeOffset>?> PreviewAsync(Guid scheduleId, int count = 5, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a run of the schedule now, with its settings, whatever its next occurrence, its pause and its overlap
    /// policy; the schedule's next occurrence does not change.
    /// </summary>
    /// <param name="scheduleId">The schedule.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The started run, or <see langword="null"/> when there is no such schedule.</returns>
    /// <exception cref="UnknownPluginException">The plugin is not in the catalog.</exception>
    /// <exception cref="InvalidPluginSettingsException">The settings fail the plugin's schema.</exception>
    Task<PluginRun?> TriggerAsync(Guid scheduleId, CancellationToken cancellationToken = default);
}
