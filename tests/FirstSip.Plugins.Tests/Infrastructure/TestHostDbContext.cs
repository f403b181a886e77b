using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins.Tests.Infrastructure;

/// <summary>A host application's own context: its briefings plus the plugin runs.</summary>
public sealed class TestHostDbContext(DbContextOptions<TestHostDbContext> options) : DbContext(options)
{
    public DbSet<Briefing> Briefings => Set<Briefing>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Briefing>(b =>
        {
            b.ToTable("briefings");
            b.HasKey(x => x.Id);
        });
        modelBuilder.AddPluginRuns();
    }
}

public sealed class Briefing
{
    public Guid Id { get; set; }

    public Guid RunId { get; set; }

    public string UserId { get; set; } = "";

    public string Summary { get; set; } = "";
}
