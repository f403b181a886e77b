using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>The EF Core mapping of <see cref="PluginRun"/>, shared by the host's context and the standalone contexts.</summary>
internal static class PluginRunModel
{
    public static void Configure(ModelBuilder modelBuilder, string tableName, string? schema)
    {
        var nativeDateTimeOffset = SupportsDateTimeOffset(modelBuilder);
        var statusConverter = new ValueConverter<PluginRunStatus, string>(
            v => v.ToWireString(),
            v => PluginRunStatusExtensions.ParseWireString(v));

        modelBuilder.Entity<PluginRun>(b =>
        {
            b.ToTable(tableName, schema);
            b.HasKey(r => r.RunId);
            b.Property(r => r.RunId).HasColumnName("run_id").ValueGeneratedNever();
            b.Property(r => r.PluginName).HasColumnName("plugin_name").HasMaxLength(200).IsRequired();
            b.Property(r => r.UserId).HasColumnName("user_id").HasMaxLength(200).IsRequired();
            b.Property(r => r.Status).HasColumnName("status").HasMaxLength(16).HasConversion(statusConverter).IsRequired();
            b.Property(r => r.Settings).HasColumnName("settings").IsRequired();
            b.Property(r => r.Output).HasColumnName("output");
            b.Property(r => r.Error).HasColumnName("error");
            b.Property(r => r.Attempt).HasColumnName("attempt");
            b.Property(r => r.MaxAttempts).HasColumnName("max_attempts");
            b.Property(r => r.IdempotencyKey).HasColumnName("idempotency_key").HasMaxLength(200);
            b.Property(r => r.CreatedAt).HasColumnName("created_at");
            b.Property(r => r.DispatchedAt).HasColumnName("dispatched_at");
            b.Property(r => r.StartedAt).HasColumnName("started_at");
            b.Property(r => r.CompletedAt).HasColumnName("completed_at");
            b.Property(r => r.Deadline).HasColumnName("deadline");
            b.Property(r => r.NextAttemptAt).HasColumnName("next_attempt_at");
            b.Property(r => r.TimeoutSeconds).HasColumnName("timeout_seconds");
            b.Property(r => r.LastStep).HasColumnName("last_step").HasMaxLength(500);
            b.Property(r => r.TraceParent).HasColumnName("trace_parent").HasMaxLength(100);
            b.Property(r => r.SealedSecrets).HasColumnName("sealed_secrets");
            b.Property(r => r.QueueTimeoutSeconds).HasColumnName("queue_timeout_seconds");
            b.Property(r => r.QueueDeadline).HasColumnName("queue_deadline");
            b.Property(r => r.ExpiresAt).HasColumnName("expires_at");
            b.Property(r => r.RequestId).HasColumnName("request_id").HasMaxLength(64);
            b.Property(r => r.DispatchFailures).HasColumnName("dispatch_failures");
            b.Property(r => r.StopSignalPending).HasColumnName("stop_signal_pending");
            b.Property(r => r.Version).HasColumnName("version").IsConcurrencyToken();

            if (!nativeDateTimeOffset)
            {
                var converter = new DateTimeOffsetToBinaryConverter();
                b.Property(r => r.CreatedAt).HasConversion(converter);
                b.Property(r => r.DispatchedAt).HasConversion(converter);
                b.Property(r => r.StartedAt).HasConversion(converter);
                b.Property(r => r.CompletedAt).HasConversion(converter);
                b.Property(r => r.Deadline).HasConversion(converter);
                b.Property(r => r.NextAttemptAt).HasConversion(converter);
                b.Property(r => r.QueueDeadline).HasConversion(converter);
                b.Property(r => r.ExpiresAt).HasConversion(converter);
            }

            b.HasIndex(r => new { r.Status, r.NextAttemptAt }).HasDatabaseName($"ix_{tableName}_status_next_attempt_at");
            b.HasIndex(r => new { r.Status, r.Deadline }).HasDatabaseName($"ix_{tableName}_status_deadline");
            b.HasIndex(r => new { r.UserId, r.CreatedAt }).HasDatabaseName($"ix_{tableName}_user_id_created_at");
            b.HasIndex(r => r.CreatedAt).HasDatabaseName($"ix_{tableName}_created_at");
            b.HasIndex(r => new { r.Status, r.DispatchedAt }).HasDatabaseName($"ix_{tableName}_status_dispatched_at");
            b.HasIndex(r => new { r.Status, r.QueueDeadline }).HasDatabaseName($"ix_{tableName}_status_queue_deadline");
            b.HasIndex(r => new { r.Status, r.ExpiresAt }).HasDatabaseName($"ix_{tableName}_status_expires_at");
            b.HasIndex(r => r.StopSignalPending).HasDatabaseName($"ix_{tableName}_stop_signal_pending");
            b.HasIndex(r => new { r.PluginName, r.UserId, r.IdempotencyKey }).HasDatabaseName($"ix_{tableName}_idempotency");
        });
    }

    /// <summary>
    /// PostgreSQL (timestamptz) and SQL Server (datetimeoffset) store DateTimeOffset natively; SQLite and others
    /// need the binary converter to filter and sort. The providers' conventions leave their mark on the model
    /// before OnModelCreating runs.
    /// </summary>
    internal static bool SupportsDateTimeOffset(ModelBuilder modelBuilder) =>
        modelBuilder.Model.GetAnnotations().Any(a =>
            a.Name.StartsWith("Npgsql:", StringComparison.Ordinal) || a.Name.StartsWith("SqlServer:", StringComparison.Ordinal));
}
