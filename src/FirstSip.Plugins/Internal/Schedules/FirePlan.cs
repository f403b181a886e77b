using Cronos;

namespace FirstSip.Plugins.Internal.Schedules;

/// <summary>
/// Which of a schedule's occurrences up to now start a run, by its misfire policy: the occurrences at most
/// <c>threshold</c> late are on time and always fire; older ones are missed, and the policy skips them (skip), folds them
/// into one run for the latest of them unless an on-time occurrence fires anyway (run once), or fires the latest
/// <c>cap</c> of them (run each).
/// </summary>
internal sealed record FirePlan(IReadOnlyList<DateTimeOffset> Fire, long MissedSkipped, DateTimeOffset? Next)
{
    /// <summary>The most occurrences walked in one plan; a schedule further behind jumps to its next occurrence after now.</summary>
    internal const int MaxWalk = 100_000;

    public static FirePlan Create(
        CronExpression expression,
        TimeZoneInfo zone,
        DateTimeOffset due,
        DateTimeOffset now,
        TimeSpan threshold,
        PluginScheduleMisfirePolicy policy,
        int cap)
    {
        var keep = policy switch
        {
            PluginScheduleMisfirePolicy.RunEach => Math.Max(1, cap),
            PluginScheduleMisfirePolicy.RunOnce => 1,
            _ => 0,
        };
        var missed = new Queue<DateTimeOffset>();
        var onTime = new List<DateTimeOffset>();
        long missedCount = 0;
        DateTimeOffset? occurrence = due.ToUniversalTime();
        var walked = 0;
        while (occurrence is { } at && at <= now)
        {
            if (++walked > MaxWalk)
            {
                // Far behind (a per-second schedule after a long outage): the rest of the backlog is missed in bulk.
                occurrence = expression.GetNextOccurrence(now, zone)?.ToUniversalTime();
                missedCount++;
                break;
            }

            if (now - at <= threshold)
            {
                onTime.Add(at);
            }
            else
            {
                missedCount++;
                if (keep > 0)
                {
                    missed.Enqueue(at);
                    if (missed.Count > keep)
                    {
                        missed.Dequeue();
                    }
                }
            }

            occurrence = expression.GetNextOccurrence(at, zone)?.ToUniversalTime();
        }

        var fire = new List<DateTimeOffset>();
        switch (policy)
        {
            case PluginScheduleMisfirePolicy.RunEach:
                fire.AddRange(missed);
                break;
            case PluginScheduleMisfirePolicy.RunOnce when onTime.Count == 0 && missed.Count > 0:
                fire.Add(missed.Last());
                break;
        }

        var firedMissed = fire.Count;
        fire.AddRange(onTime);
        return new FirePlan(fire, missedCount - firedMissed, occurrence);
    }
}
