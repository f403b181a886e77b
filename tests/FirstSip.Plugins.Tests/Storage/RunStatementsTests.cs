using FirstSip.Plugins.Internal.Storage;
using FirstSip.Plugins.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace FirstSip.Plugins.Tests.Storage;

/// <summary>
/// The hot-path updates written as SQL follow the context's own mapping: a renamed table (and, on PostgreSQL, a schema of
/// its own), converted columns (the status as its wire string, timestamps as binary on SQLite) read back through EF Core
/// exactly as written, and each statement's conditions.
/// </summary>
[Collection(ServersCollectionDefinition.Name)]
public sealed class RunStatementsTests(ServersFixture servers)
{
    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task EveryStatement_WritesTheRenamedTable_AsEfCoreReadsIt(Db db)
    {
        await using var context = await CreateAsync(db);
        var created = new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
        var run = new PluginRun
        {
            RunId = Guid.NewGuid(), PluginName = "echo", UserId = "42", Settings = "{}", CreatedAt = created,
            Status = PluginRunStatus.Pending, Version = 3, Attempt = 2, DispatchFailures = 1,
        };
        context.Add(run);
        await context.SaveChangesAsync();
        context.ChangeTracker.Clear();
        var statements = RunStatements.Of(context);
        var dispatchedAt = created.AddSeconds(1);

        // The claim wants the version it read, and a pending run.
        Assert.Empty(await statements.ClaimAsync(context, [(run.RunId, 2)], dispatchedAt, CancellationToken.None));
        Assert.Equal([run.RunId], await statements.ClaimAsync(context, [(run.RunId, 3)], dispatchedAt, CancellationToken.None));
        Assert.Empty(await statements.ClaimAsync(context, [(run.RunId, 4)], dispatchedAt, CancellationToken.None));
        var claimed = await ReadAsync(context, run.RunId);
        Assert.Equal((PluginRunStatus.Dispatched, dispatchedAt, 4L), (claimed.Status, claimed.DispatchedAt, claimed.Version));

        // The request id: only for the run's attempt, once.
        Assert.Equal(0, await statements.RecordRequestIdsAsync(context, [(run.RunId, 1, "1-1")], CancellationToken.None));
        Assert.Equal(1, await statements.RecordRequestIdsAsync(context, [(run.RunId, 2, "1700000000000-5")], CancellationToken.None));
        Assert.Equal(0, await statements.RecordRequestIdsAsync(context, [(run.RunId, 2, "1-2")], CancellationToken.None));
        var recorded = await ReadAsync(context, run.RunId);
        Assert.Equal(("1700000000000-5", 0, 4L), (recorded.RequestId, recorded.DispatchFailures, recorded.Version));

        // Started: another attempt's event changes nothing; a step given is kept; a null step keeps the last one.
        var startedAt = created.AddSeconds(2);
        var deadline = created.AddMinutes(5);
        Assert.False(await statements.StartAsync(context, run.RunId, attempt: 1, restart: true, startedAt, deadline, "x", CancellationToken.None));
        Assert.True(await statements.StartAsync(context, run.RunId, attempt: 2, restart: false, startedAt, deadline, "fetch", CancellationToken.None));
        Assert.False(await statements.StartAsync(context, run.RunId, attempt: 2, restart: false, startedAt, deadline, null, CancellationToken.None));
        Assert.True(await statements.StartAsync(context, run.RunId, attempt: null, restart: true, startedAt.AddSeconds(1), deadline, null, CancellationToken.None));
        var started = await ReadAsync(context, run.RunId);
        Assert.Equal(
            (PluginRunStatus.Running, startedAt.AddSeconds(1), deadline, "fetch", 6L),
            (started.Status, started.StartedAt, started.Deadline, started.LastStep, started.Version));

        // The transition writes the row as given, at the version read.
        var ended = await ReadAsync(context, run.RunId);
        ended.Status = PluginRunStatus.Completed;
        ended.Output = """{"summary":"ok"}""";
        ended.CompletedAt = created.AddSeconds(3);
        ended.Version = 7;
        Assert.False(await statements.TransitionAsync(context, ended, expectedVersion: 5, CancellationToken.None));
        Assert.True(await statements.TransitionAsync(context, ended, expectedVersion: 6, CancellationToken.None));
        var stored = await ReadAsync(context, run.RunId);
        Assert.Equivalent(ended, stored, strict: true);
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task ABatchClaim_TakesEachRunAtItsOwnVersion_AndBatchRequestIdsGoToTheirOwnRuns(Db db)
    {
        await using var context = await CreateAsync(db);
        var created = new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
        var runs = Enumerable.Range(0, 5).Select(i => new PluginRun
        {
            RunId = Guid.NewGuid(), PluginName = "echo", UserId = "42", Settings = "{}", CreatedAt = created,
            Status = i == 4 ? PluginRunStatus.Cancelled : PluginRunStatus.Pending, Version = 1, Attempt = 1 + i, DispatchFailures = 2,
        }).ToList();
        context.AddRange(runs);
        await context.SaveChangesAsync();
        context.ChangeTracker.Clear();
        var statements = RunStatements.Of(context);
        var dispatchedAt = created.AddSeconds(1);

        // Run 1 was read at an older version; run 4 is not pending.
        var claimed = await statements.ClaimAsync(context, [.. runs.Select((r, i) => (r.RunId, i == 1 ? 0L : 1L))], dispatchedAt, CancellationToken.None);
        Assert.Equal(new HashSet<Guid> { runs[0].RunId, runs[2].RunId, runs[3].RunId }, claimed);
        Assert.Equal(PluginRunStatus.Pending, (await ReadAsync(context, runs[1].RunId)).Status);
        Assert.Equal(PluginRunStatus.Cancelled, (await ReadAsync(context, runs[4].RunId)).Status);

        // Run 3's id names another attempt, so it stays without one.
        var recorded = await statements.RecordRequestIdsAsync(
            context, [(runs[0].RunId, 1, "1-0"), (runs[2].RunId, 3, "1-2"), (runs[3].RunId, 1, "1-3")], CancellationToken.None);
        Assert.Equal(2, recorded);
        foreach (var (run, index) in runs.Select((r, i) => (r, i)))
        {
            var stored = await ReadAsync(context, run.RunId);
            var expected = index switch
            {
                0 => (PluginRunStatus.Dispatched, (DateTimeOffset?)dispatchedAt, 2L, (string?)"1-0", 0),
                2 => (PluginRunStatus.Dispatched, dispatchedAt, 2L, "1-2", 0),
                3 => (PluginRunStatus.Dispatched, dispatchedAt, 2L, (string?)null, 2),
                _ => (run.Status, (DateTimeOffset?)null, 1L, null, 2),
            };
            Assert.Equal(expected, (stored.Status, stored.DispatchedAt, stored.Version, stored.RequestId, stored.DispatchFailures));
        }
    }

    [Theory]
    [InlineData(Db.Sqlite)]
    [InlineData(Db.Postgres)]
    public async Task AnInsert_WritesEveryColumnOfEveryRun_AsEfCoreReadsThem(Db db)
    {
        await using var context = await CreateAsync(db);
        var at = new DateTimeOffset(2026, 12, 2, 7, 0, 0, 123, TimeSpan.Zero);
        var full = new PluginRun
        {
            RunId = Guid.NewGuid(), PluginName = "echo", UserId = "42", Status = PluginRunStatus.Running, Settings = """{"topics":["ai"]}""",
            Output = "{}", Error = "e", Attempt = 2, MaxAttempts = 3, IdempotencyKey = "k", CreatedAt = at, DispatchedAt = at.AddSeconds(1),
            StartedAt = at.AddSeconds(2), CompletedAt = at.AddSeconds(3), Deadline = at.AddSeconds(4), QueueTimeoutSeconds = 60,
            QueueDeadline = at.AddSeconds(5), ExpiresAt = at.AddSeconds(6), RequestId = "1-1", DispatchFailures = 1, StopSignalPending = true,
            NextAttemptAt = at.AddSeconds(7), TimeoutSeconds = 30, LastStep = "s", TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            SealedSecrets = "sealed", Version = 9,
        };
        var bare = new PluginRun { RunId = Guid.NewGuid(), PluginName = "echo", UserId = "7", Settings = "{}", CreatedAt = at };

        await RunStatements.Of(context).InsertAsync(context, [full, bare], CancellationToken.None);

        Assert.Equivalent(full, await ReadAsync(context, full.RunId), strict: true);
        Assert.Equivalent(bare, await ReadAsync(context, bare.RunId), strict: true);
        await Assert.ThrowsAsync<DbUpdateException>(() => RunStatements.Of(context).InsertAsync(context, [bare], CancellationToken.None));
    }

    private static Task<PluginRun> ReadAsync(DbContext context, Guid runId) =>
        context.Set<PluginRun>().AsNoTracking().SingleAsync(r => r.RunId == runId);

    private async Task<RenamedRunsContext> CreateAsync(Db db)
    {
        var options = new DbContextOptionsBuilder<RenamedRunsContext>();
        if (db == Db.Sqlite)
        {
            var folder = Path.Combine(Path.GetTempPath(), "firstsip-plugins-tests");
            Directory.CreateDirectory(folder);
            options.UseSqlite($"Data Source={Path.Combine(folder, Guid.NewGuid().ToString("N") + ".db")}");
        }
        else
        {
            options.UseNpgsql(servers.Postgres.CreateDatabaseConnectionString());
        }

        var context = new RenamedRunsContext(options.Options, db == Db.Postgres ? "jobs" : null);
        await context.Database.EnsureCreatedAsync();
        return context;
    }

    private sealed class RenamedRunsContext(DbContextOptions<RenamedRunsContext> options, string? schema) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddPluginRuns("job runs", schema);
    }
}
