using Ganss.Xss;
using Markdig;

namespace FirstSip.Samples.Web;

/// <summary>
/// Renders a plugin's Markdown as HTML the page can show. Plugin output is untrusted: Markdig renders raw HTML in the
/// Markdown as text (DisableHtml), and HtmlSanitizer then keeps only text formatting, lists, quotes, code and links to
/// http(s) or mailto addresses; every link opens in a new tab without the opener. Images are dropped.
/// </summary>
internal static class BriefingHtml
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().DisableHtml().Build();

    private static readonly HtmlSanitizer Sanitizer = CreateSanitizer();

    public static string ToHtml(string? markdown) =>
        Sanitizer.Sanitize(Markdown.ToHtml(markdown ?? string.Empty, Pipeline)).Trim();

    private static HtmlSanitizer CreateSanitizer()
    {
        var sanitizer = new HtmlSanitizer(new HtmlSanitizerOptions
        {
            AllowedTags = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
            {
                "p", "br", "strong", "em", "del", "a", "ul", "ol", "li", "code", "pre", "blockquote",
                "h1", "h2", "h3", "h4", "h5", "h6", "hr",
            },
            AllowedAttributes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "href", "title", "start" },
            UriAttributes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "href" },
            AllowedSchemes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "http", "https", "mailto" },
            AllowedCssProperties = new HashSet<string>(StringComparer.OrdinalIgnoreCase),
        });
        sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is AngleSharp.Dom.IElement { LocalName: "a" } link)
            {
                link.SetAttribute("rel", "noopener noreferrer nofollow");
                link.SetAttribute("target", "_blank");
            }
        };
        return sanitizer;
    }
}

/// <summary>A stored briefing as the page shows it: the plugin's Markdown and its sanitized HTML.</summary>
internal sealed record BriefingView(
    Guid RunId,
    string UserId,
    string PluginName,
    string Summary,
    string SummaryHtml,
    IReadOnlyList<BriefingSectionView> Sections,
    DateTimeOffset CreatedAt)
{
    public static BriefingView From(FirstSip.Samples.Briefings.Briefing briefing) => new(
        briefing.RunId,
        briefing.UserId,
        briefing.PluginName,
        briefing.Summary,
        BriefingHtml.ToHtml(briefing.Summary),
        briefing.Sections.Select(s => new BriefingSectionView(s.Title, s.Content, BriefingHtml.ToHtml(s.Content))).ToList(),
        briefing.CreatedAt);
}

/// <summary>One section of a <see cref="BriefingView"/>.</summary>
internal sealed record BriefingSectionView(string Title, string Content, string ContentHtml);
