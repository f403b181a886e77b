using System.Reflection;

namespace FirstSip.Streams.Tests;

/// <summary>
/// The public surface of FirstSip.Streams, compared with the checked-in baseline
/// <c>src/FirstSip.Streams/PublicAPI.Shipped.txt</c>, so any change to it shows up in review.
/// Set FIRSTSIP_UPDATE_PUBLIC_API=1 to rewrite the baseline after an intended change.
/// </summary>
public sealed class PublicApiTests
{
    [Fact]
    public void PublicApi_MatchesBaseline()
    {
        var actual = Describe(typeof(PluginStreamsTelemetry).Assembly);
        var path = Path.Combine(Paths.RepositoryRoot, "src", "FirstSip.Streams", "PublicAPI.Shipped.txt");
        if (Environment.GetEnvironmentVariable("FIRSTSIP_UPDATE_PUBLIC_API") == "1")
        {
            File.WriteAllLines(path, actual);
        }

        var expected = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        var added = actual.Except(expected).ToArray();
        var removed = expected.Except(actual).ToArray();
        Assert.True(added.Length == 0 && removed.Length == 0,
            $"Public API changed.\nAdded:\n  {string.Join("\n  ", added)}\nRemoved:\n  {string.Join("\n  ", removed)}");
    }

    private static string[] Describe(Assembly assembly)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            var kind = type.IsInterface ? "interface" : type.IsEnum ? "enum" : type.IsValueType ? "struct" : type.IsAbstract && type.IsSealed ? "static class" : type.IsSealed ? "sealed class" : "class";
            var baseType = type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) ? " : " + b : string.Empty;
            lines.Add($"{kind} {type}{baseType}");
            foreach (var member in type.GetMembers(flags))
            {
                if (member is MethodInfo { IsSpecialName: true } || (type.IsEnum && member.Name == "value__"))
                {
                    continue;
                }

                if (member.DeclaringType == typeof(object) || (type.IsEnum && member is MethodInfo))
                {
                    continue;
                }

                var text = member switch
                {
                    PropertyInfo p => $"{p.PropertyType} {p.Name} {{ {(p.GetMethod?.IsPublic == true ? "get; " : "")}{(p.SetMethod?.IsPublic == true ? (p.SetMethod.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.Name == "IsExternalInit") ? "init; " : "set; ") : "")}}}",
                    FieldInfo f => $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{f.FieldType} {f.Name}",
                    MethodBase m => $"{(m.IsStatic ? "static " : "")}{m}",
                    _ => member.ToString(),
                };
                lines.Add($"{type}: {text}");
            }
        }

        return [.. lines.Order(StringComparer.Ordinal)];
    }
}
