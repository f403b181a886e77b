using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace FirstSip.Plugins.Internal.Storage;

/// <summary>The package's own context, used when the host does not bring one. One subclass (and migrations folder) per provider.</summary>
internal abstract class PluginRunDbContext : DbContext
{
    protected PluginRunDbContext(DbContextOptions options)
        : base(options)
    {
    }

    public DbSet<PluginRun> Runs => Set<PluginRun>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddPluginRuns().AddPluginSchedules();
}

/// <summary>The standalone context on SQLite.</summary>
internal sealed class SqlitePluginRunDbContext(DbContextOptions<SqlitePluginRunDbContext> options) : PluginRunDbContext(options);

/// <summary>The standalone context on PostgreSQL.</summary>
internal sealed class NpgsqlPluginRunDbContext(DbContextOptions<NpgsqlPluginRunDbContext> options) : PluginRunDbContext(options);

/// <summary>Lets <c>dotnet ef migrations add --context SqlitePluginRunDbContext</c> build the context.</summary>
internal sealed class SqlitePluginRunDbContextDesignFactory : IDesignTimeDbContextFactory<SqlitePluginRunDbContext>
{
    public SqlitePluginRunDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlitePluginRunDbContext>().UseSqlite("Data Source=design-time.db").Options);
}

/// <summary>Lets <c>dotnet ef migrations add --context NpgsqlPluginRunDbContext</c> build the context (no connection is opened).</summary>
internal sealed class NpgsqlPluginRunDbContextDesignFactory : IDesignTimeDbContextFactory<NpgsqlPluginRunDbContext>
{
    public NpgsqlPluginRunDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<NpgsqlPluginRunDbContext>().UseNpgsql("Host=localhost;Database=design_time").Options);
}
