using System.ComponentModel.DataAnnotations;

namespace FirstSip.Plugins;

/// <summary>Options of the run retention job, which deletes old terminal runs.</summary>
public class PluginOperationsOptions
{
    /// <summary>
    /// Gets or sets how long terminal runs (completed, failed, timed out, cancelled) are kept after they ended; older ones are
    /// deleted by the hosted retention job. Completion handlers' own records (a briefing, say) are the host's and stay.
    /// </summary>
    /// <value><see langword="null"/> by default: runs are kept for ever and the job does nothing.</value>
    public TimeSpan? TerminalRunRetention { get; set; }

    /// <summary>Gets or sets how often the retention job runs.</summary>
    /// <value>One hour by default.</value>
    [Range(typeof(TimeSpan), "00:00:00.100", "30.00:00:00")]
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);
}
