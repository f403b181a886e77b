using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>The EF Core mapping of <see cref="PluginSchedule"/>, shared by the host's context and the standalone contexts.</summary>
internal static class PluginScheduleModel
{
    public static void Configure(ModelBuilder modelBuilder, string tableName, string? schema)
    {
        var nativeDateTimeOffset = PluginRunModel.SupportsDateTimeOffset(modelBuilder);
        var misfireConverter = new ValueConverter<PluginScheduleMisfirePolicy, string>(
            v => ScheduleText.ToText(v),
            v => ScheduleText.ParseMisfire(v));
        var overlapConverter = new ValueConverter<PluginScheduleOverlapPolicy, string>(
            v => ScheduleText.ToText(v),
            v => ScheduleText.ParseOverlap(v));

        modelBuilder.Entity<PluginSchedule>(b =>
        {
            b.ToTable(tableName, schema);
            b.HasKey(s => s.ScheduleId);
            b.Property(s => s.ScheduleId).HasColumnName("schedule_id").ValueGeneratedNever();
            b.Property(s => s.UserId).HasColumnName("user_id").HasMaxLength(200).IsRequired();
            b.Property(s => s.PluginName).HasColumnName("plugin_name").HasMaxLength(200).IsRequired();
            b.Property(s => s.Settings).HasColumnName("settings").IsRequired();
            b.Property(s => s.CronExpression).HasColumnName("cron_expression").HasMaxLength(200).IsRequired();
            b.Property(s => s.TimeZone).HasColumnName("time_zone").HasMaxLength(100).IsRequired();
            b.Property(s => s.Enabled).HasColumnName("enabled");
            b.Property(s => s.PausedReason).HasColumnName("paused_reason").HasMaxLength(2000);
            b.Property(s => s.MisfirePolicy).HasColumnName("misfire_policy").HasMaxLength(16).HasConversion(misfireConverter).IsRequired();
            b.Property(s => s.MaxMisfireRuns).HasColumnName("max_misfire_runs");
            b.Property(s => s.OverlapPolicy).HasColumnName("overlap_policy").HasMaxLength(16).HasConversion(overlapConverter).IsRequired();
            b.Property(s => s.NextFireAt).HasColumnName("next_fire_at");
            b.Property(s => s.LastFireAt).HasColumnName("last_fire_at");
            b.Property(s => s.LastRunId).HasColumnName("last_run_id");
            b.Property(s => s.CreatedAt).HasColumnName("created_at");
            b.Property(s => s.UpdatedAt).HasColumnName("updated_at");
            b.Property(s => s.Version).HasColumnName("version").IsConcurrencyToken();

            if (!nativeDateTimeOffset)
            {
                var converter = new DateTimeOffsetToBinaryConverter();
                b.Property(s => s.NextFireAt).HasConversion(converter);
                b.Property(s => s.LastFireAt).HasConversion(converter);
                b.Property(s => s.CreatedAt).HasConversion(converter);
                b.Property(s => s.UpdatedAt).HasConversion(converter);
            }

            // Paused schedules have no next fire time, so the scheduler's due query reads only the due rows of this index.
            b.HasIndex(s => s.NextFireAt).HasDatabaseName($"ix_{tableName}_next_fire_at");
            b.HasIndex(s => new { s.UserId, s.PluginName }).HasDatabaseName($"ix_{tableName}_user_id_plugin_name");
            b.HasIndex(s => s.PluginName).HasDatabaseName($"ix_{tableName}_plugin_name");
        });
    }
}

/// <summary>The stored text of the schedule policies.</summary>
internal static class ScheduleText
{
    public static string ToText(PluginScheduleMisfirePolicy policy) => policy switch
    {
        PluginScheduleMisfirePolicy.Skip => "skip",
        PluginScheduleMisfirePolicy.RunOnce => "run_once",
        PluginScheduleMisfirePolicy.RunEach => "run_each",
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, null),
    };

    public static string ToText(PluginScheduleOverlapPolicy policy) => policy switch
    {
        PluginScheduleOverlapPolicy.Skip => "skip",
        PluginScheduleOverlapPolicy.Allow => "allow",
        PluginScheduleOverlapPolicy.CancelPrevious => "cancel_previous",
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, null),
    };

    public static PluginScheduleMisfirePolicy ParseMisfire(string text) => text switch
    {
        "skip" => PluginScheduleMisfirePolicy.Skip,
        "run_once" => PluginScheduleMisfirePolicy.RunOnce,
        "run_each" => PluginScheduleMisfirePolicy.RunEach,
        _ => throw new FormatException($"unknown misfire policy '{text}'"),
    };

    public static PluginScheduleOverlapPolicy ParseOverlap(string text) => text switch
    {
        "skip" => PluginScheduleOverlapPolicy.Skip,
        "allow" => PluginScheduleOverlapPolicy.Allow,
        "cancel_previous" => PluginScheduleOverlapPolicy.CancelPrevious,
        _ => throw new FormatException($"unknown overlap policy '{text}'"),
    };
}
