using System.Text;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Spectre.Console;

namespace FirstSip.Samples.ConsoleHost;

/// <summary>
/// Turns a plugin's Markdown into Spectre.Console markup: bold, italics, code, links, headings, lists and quotes.
/// Every piece of text is escaped, raw HTML stays literal text, and only http(s) and mailto links become links.
/// </summary>
internal static class MarkdownMarkup
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().DisableHtml().Build();

    public static string ToMarkup(string markdown)
    {
        var document = Markdown.Parse(markdown ?? string.Empty, Pipeline);
        var output = new StringBuilder();
        WriteBlocks(document, output, indent: string.Empty);
        return output.ToString().TrimEnd('\n');
    }

    private static void WriteBlocks(ContainerBlock container, StringBuilder output, string indent)
    {
        foreach (var block in container)
        {
            switch (block)
            {
                case HeadingBlock heading:
                    output.Append(indent).Append("[bold underline]");
                    WriteInlines(heading.Inline, output);
                    output.Append("[/]\n");
                    break;
                case ParagraphBlock paragraph:
                    output.Append(indent);
                    WriteInlines(paragraph.Inline, output);
                    output.Append('\n');
                    break;
                case ListBlock list:
                    var number = int.TryParse(list.OrderedStart, out var start) ? start : 1;
                    foreach (var item in list.OfType<ListItemBlock>())
                    {
                        var bullet = list.IsOrdered ? $"{number++}. " : "• ";
                        var inner = new StringBuilder();
                        WriteBlocks(item, inner, string.Empty);
                        var lines = inner.ToString().TrimEnd('\n').Split('\n');
                        for (var i = 0; i < lines.Length; i++)
                        {
                            output.Append(indent).Append(i == 0 ? bullet : new string(' ', bullet.Length)).Append(lines[i]).Append('\n');
                        }
                    }

                    break;
                case QuoteBlock quote:
                    WriteBlocks(quote, output, indent + "[grey]│[/] ");
                    break;
                case CodeBlock code:
                    foreach (var line in code.Lines.Lines.Take(code.Lines.Count))
                    {
                        output.Append(indent).Append("[grey]").Append(Markup.Escape(line.ToString())).Append("[/]\n");
                    }

                    break;
                case ThematicBreakBlock:
                    output.Append(indent).Append("[grey]────────[/]\n");
                    break;
                case ContainerBlock other:
                    WriteBlocks(other, output, indent);
                    break;
                case LeafBlock leaf when leaf.Inline is not null:
                    output.Append(indent);
                    WriteInlines(leaf.Inline, output);
                    output.Append('\n');
                    break;
                case LeafBlock leaf:
                    output.Append(indent).Append(Markup.Escape(string.Join('\n', leaf.Lines.Lines.Take(leaf.Lines.Count)))).Append('\n');
                    break;
            }
        }
    }

    private static void WriteInlines(ContainerInline? container, StringBuilder output)
    {
        for (var inline = container?.FirstChild; inline is not null; inline = inline.NextSibling)
        {
            switch (inline)
            {
                case LiteralInline literal:
                    output.Append(Markup.Escape(literal.Content.ToString()));
                    break;
                case CodeInline code:
                    output.Append("[grey]").Append(Markup.Escape(code.Content)).Append("[/]");
                    break;
                case LineBreakInline lineBreak:
                    output.Append(lineBreak.IsHard ? '\n' : ' ');
                    break;
                case EmphasisInline emphasis:
                    output.Append(emphasis.DelimiterCount >= 2 ? "[bold]" : "[italic]");
                    WriteInlines(emphasis, output);
                    output.Append("[/]");
                    break;
                case LinkInline { IsImage: true } image:
                    WriteInlines(image, output);
                    break;
                case LinkInline link:
                    WriteLink(link.Url, () => WriteInlines(link, output), output);
                    break;
                case AutolinkInline autolink:
                    WriteLink(autolink.IsEmail ? $"mailto:{autolink.Url}" : autolink.Url, () => output.Append(Markup.Escape(autolink.Url)), output);
                    break;
                case HtmlEntityInline entity:
                    output.Append(Markup.Escape(entity.Transcoded.ToString()));
                    break;
                case HtmlInline html:
                    output.Append(Markup.Escape(html.Tag));
                    break;
                case ContainerInline other:
                    WriteInlines(other, output);
                    break;
            }
        }
    }

    private static void WriteLink(string? url, Action writeText, StringBuilder output)
    {
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "mailto")
        {
            output.Append("[link=").Append(Markup.Escape(uri.AbsoluteUri)).Append(']');
            writeText();
            output.Append("[/]");
            if (!AnsiConsole.Profile.Capabilities.Links)
            {
                // A terminal that cannot show links gets the address after the text.
                output.Append(" [grey]<").Append(Markup.Escape(uri.AbsoluteUri)).Append(">[/]");
            }
        }
        else
        {
            writeText();
        }
    }
}
