using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace FirstSip.Samples.Briefings;

/// <summary>
/// The sample application's own database: its briefings and, added by <c>AddPluginRuns</c>, FirstSip's
/// plugin runs and (added by <c>AddPluginSchedules</c>) their schedules, so a run's completion and its briefing are
/// written in one transaction.
/// </summary>
public abstract class BriefingsDbContext(DbContextOptions options) : DbContext(options)
{
    /// <summary>Gets the stored briefings.</summary>
    public DbSet<Briefing> Briefings => Set<Briefing>();

    /// <inheritdoc/>
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.AddPluginRuns();
        modelBuilder.AddPluginSchedules();

        var sections = modelBuilder.Entity<Briefing>();
        sections.ToTable("briefings");
        sections.HasKey(b => b.Id);
        sections.HasIndex(b => b.RunId).IsUnique();
        sections.HasIndex(b => new { b.UserId, b.CreatedAt });
        sections.Property(b => b.UserId).HasMaxLength(200);
        sections.Property(b => b.PluginName).HasMaxLength(200);
        sections.Property(b => b.Sections).HasConversion(
            v => JsonSerializer.Serialize(v, JsonSerializerOptions.Web),
            v => JsonSerializer.Deserialize<List<BriefingSection>>(v, JsonSerializerOptions.Web) ?? new List<BriefingSection>(),
            new ValueComparer<List<BriefingSection>>(
                (a, b) => a!.SequenceEqual(b!),
                v => v.Aggregate(0, (hash, s) => HashCode.Combine(hash, s.GetHashCode())),
                v => v.ToList()));
        if (Database.IsSqlite())
        {
            sections.Property(b => b.CreatedAt).HasConversion(new Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter());
        }
    }
}

/// <summary>The sample's context on SQLite (its migrations are in <c>Migrations/Sqlite</c>).</summary>
public sealed class SqliteBriefingsDbContext(DbContextOptions<SqliteBriefingsDbContext> options) : BriefingsDbContext(options);

/// <summary>The sample's context on PostgreSQL (its migrations are in <c>Migrations/Npgsql</c>).</summary>
public sealed class NpgsqlBriefingsDbContext(DbContextOptions<NpgsqlBriefingsDbContext> options) : BriefingsDbContext(options);

/// <summary>Lets <c>dotnet ef migrations add … --context SqliteBriefingsDbContext</c> build the context.</summary>
internal sealed class SqliteBriefingsDesignFactory : Microsoft.EntityFrameworkCore.Design.IDesignTimeDbContextFactory<SqliteBriefingsDbContext>
{
    public SqliteBriefingsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteBriefingsDbContext>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>Lets <c>dotnet ef migrations add … --context NpgsqlBriefingsDbContext</c> build the context.</summary>
internal sealed class NpgsqlBriefingsDesignFactory : Microsoft.EntityFrameworkCore.Design.IDesignTimeDbContextFactory<NpgsqlBriefingsDbContext>
{
    public NpgsqlBriefingsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<NpgsqlBriefingsDbContext>().UseNpgsql("Host=localhost;Database=design_time").Options);
}
