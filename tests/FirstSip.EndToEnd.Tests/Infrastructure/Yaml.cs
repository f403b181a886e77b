using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Reads YAML files (several documents per file) into plain dictionaries and lists.</summary>
internal static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();

    public static IReadOnlyList<Dictionary<object, object>> LoadAll(string path)
    {
        using var reader = File.OpenText(path);
        // The merging parser resolves `<<: *anchor` (docker-compose uses it for shared environment).
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (Deserializer.Deserialize<object>(parser) is Dictionary<object, object> document)
            {
                documents.Add(document);
            }
        }

        return documents;
    }

    /// <summary>Follows a path of keys and list indexes, e.g. <c>"spec.template.spec.containers.0.ports"</c>.</summary>
    public static object? At(this object? node, string path)
    {
        foreach (var part in path.Split('.'))
        {
            node = node switch
            {
                Dictionary<object, object> map => map.TryGetValue(part, out var value) ? value : null,
                List<object> list when int.TryParse(part, out var index) => index < list.Count ? list[index] : null,
                _ => null,
            };
        }

        return node;
    }

    public static string? Text(this object? node, string path) => node.At(path)?.ToString();

    public static IEnumerable<Dictionary<object, object>> Items(this object? node, string path) =>
        node.At(path) is List<object> list ? list.OfType<Dictionary<object, object>>() : [];
}
