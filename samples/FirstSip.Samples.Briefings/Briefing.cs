namespace FirstSip.Samples.Briefings;

/// <summary>A news briefing written by a plugin run, as the original system stored it.</summary>
public sealed class Briefing
{
    /// <summary>Gets or sets the briefing's id.</summary>
    public Guid Id { get; set; }

    /// <summary>Gets or sets the run that wrote the briefing.</summary>
    public Guid RunId { get; set; }

    /// <summary>Gets or sets the user the briefing is for.</summary>
    public required string UserId { get; set; }

    /// <summary>Gets or sets the plugin that wrote the briefing.</summary>
    public required string PluginName { get; set; }

    /// <summary>Gets or sets the one-paragraph summary.</summary>
    public required string Summary { get; set; }

    /// <summary>Gets or sets the sections, in order.</summary>
    public List<BriefingSection> Sections { get; set; } = [];

    /// <summary>Gets or sets when the briefing was stored.</summary>
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One titled section of a <see cref="Briefing"/>.</summary>
/// <param name="Title">The section's title.</param>
/// <param name="Content">The section's text.</param>
public sealed record BriefingSection(string Title, string Content);
