using System.Text.Json;
using FirstSip.Plugins;
using Microsoft.Extensions.Logging;

namespace FirstSip.Samples.Briefings;

/// <summary>
/// Stores a <see cref="Briefing"/> for every completed run whose output is a briefing
/// (<c>{"summary": "...", "sections": [{"title", "content"}]}</c>). It runs inside the transaction that
/// marks the run completed: either both are stored or neither is.
/// </summary>
public sealed partial class BriefingCompletionHandler(TimeProvider timeProvider, ILogger<BriefingCompletionHandler> logger)
    : IPluginRunCompletionHandler
{
    /// <inheritdoc/>
    public Task OnRunCompletedAsync(PluginRunCompletedContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var run = context.Run;
        if (!TryReadBriefing(run.Output, out var summary, out var sections))
        {
            LogNotABriefing(logger, run.RunId, run.PluginName);
            return Task.CompletedTask;
        }

        context.DbContext.Set<Briefing>().Add(new Briefing
        {
            Id = Guid.NewGuid(),
            RunId = run.RunId,
            UserId = run.UserId,
            PluginName = run.PluginName,
            Summary = summary,
            Sections = sections,
            CreatedAt = timeProvider.GetUtcNow(),
        });
        LogBriefingStored(logger, run.RunId, sections.Count);
        return Task.CompletedTask;
    }

    /// <summary>Reads a briefing from a run's output.</summary>
    /// <param name="output">The run's output (JSON text).</param>
    /// <param name="summary">The summary, when the output is a briefing.</param>
    /// <param name="sections">The sections, when the output is a briefing.</param>
    /// <returns><see langword="true"/> when the output is a briefing.</returns>
    public static bool TryReadBriefing(string? output, out string summary, out List<BriefingSection> sections)
    {
        summary = string.Empty;
        sections = [];
        if (string.IsNullOrEmpty(output))
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(output);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("summary", out var summaryElement)
                || summaryElement.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            summary = summaryElement.GetString()!;
            if (root.TryGetProperty("sections", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in list.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Object)
                    {
                        sections.Add(new BriefingSection(Text(item, "title"), Text(item, "content")));
                    }
                }
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Text(JsonElement item, string name) =>
        item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : string.Empty;

    [LoggerMessage(EventId = 1, EventName = "BriefingStored", Level = LogLevel.Information,
        Message = "Stored the briefing of run {RunId} ({SectionCount} sections)")]
    private static partial void LogBriefingStored(ILogger logger, Guid runId, int sectionCount);

    [LoggerMessage(EventId = 2, EventName = "NotABriefing", Level = LogLevel.Debug,
        Message = "Run {RunId} of {PluginName} completed with an output that is not a briefing; nothing stored")]
    private static partial void LogNotABriefing(ILogger logger, Guid runId, string pluginName);
}
