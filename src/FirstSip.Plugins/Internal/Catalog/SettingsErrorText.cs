using System.Globalization;
using NJsonSchema;
using NJsonSchema.Validation;

namespace FirstSip.Plugins.Internal.Catalog;

/// <summary>Turns NJsonSchema's validation errors into a settings path and a sentence.</summary>
internal static class SettingsErrorText
{
    public static string Path(ValidationError error)
    {
        var path = error.Path ?? "";
        if (path.StartsWith("#/", StringComparison.Ordinal))
        {
            path = path[2..];
        }
        else if (path.StartsWith('#'))
        {
            path = path[1..];
        }

        if (path.Length == 0 && !string.IsNullOrEmpty(error.Property))
        {
            path = error.Property;
        }

        return path;
    }

    /// <summary>The message for one error; the sidecar's <c>schema.py</c> writes the same texts (tests/vectors/settings.json).</summary>
    public static string Message(ValidationError error)
    {
        var schema = error.Schema;
        return error.Kind switch
        {
            ValidationErrorKind.PropertyRequired => "is required",
            ValidationErrorKind.NoAdditionalPropertiesAllowed => "is not an allowed setting",
            ValidationErrorKind.StringExpected => "must be a string",
            ValidationErrorKind.IntegerExpected => "must be an integer",
            ValidationErrorKind.NumberExpected => "must be a number",
            ValidationErrorKind.BooleanExpected => "must be a boolean",
            ValidationErrorKind.ArrayExpected => "must be an array",
            ValidationErrorKind.ObjectExpected => "must be an object",
            ValidationErrorKind.NullExpected => "must be null",
            ValidationErrorKind.NoTypeValidates when schema is not null => "must be one of the types: " + string.Join(", ", TypeNames(schema.Type)),
            ValidationErrorKind.NotInEnumeration when schema is not null =>
                "must be one of: " + string.Join(", ", schema.Enumeration.Select(Literal)),
            ValidationErrorKind.TooManyItems when schema?.MaxItems > 0 =>
                string.Create(CultureInfo.InvariantCulture, $"must have at most {schema.MaxItems} items"),
            ValidationErrorKind.TooFewItems when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must have at least {schema.MinItems} items"),
            ValidationErrorKind.ItemsNotUnique => "must not contain duplicate items",
            ValidationErrorKind.StringTooShort when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at least {schema.MinLength} characters long"),
            ValidationErrorKind.StringTooLong when schema?.MaxLength is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at most {schema.MaxLength} characters long"),
            ValidationErrorKind.NumberTooSmall when schema?.ExclusiveMinimum is { } bound =>
                string.Create(CultureInfo.InvariantCulture, $"must be greater than {bound}"),
            ValidationErrorKind.NumberTooSmall when schema?.Minimum is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be {(schema.IsExclusiveMinimum ? "greater than" : "at least")} {schema.Minimum}"),
            ValidationErrorKind.NumberTooBig when schema?.ExclusiveMaximum is { } bound =>
                string.Create(CultureInfo.InvariantCulture, $"must be less than {bound}"),
            ValidationErrorKind.NumberTooBig when schema?.Maximum is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be {(schema.IsExclusiveMaximum ? "less than" : "at most")} {schema.Maximum}"),
            ValidationErrorKind.NumberNotMultipleOf when schema?.MultipleOf is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be a multiple of {schema.MultipleOf}"),
            ValidationErrorKind.TooManyProperties when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must have at most {schema.MaxProperties} properties"),
            ValidationErrorKind.TooFewProperties when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must have at least {schema.MinProperties} properties"),
            ValidationErrorKind.PatternMismatch when schema?.Pattern is not null => $"must match the pattern {schema.Pattern}",
            ValidationErrorKind.NotOneOf => "must match exactly one of the allowed schemas",
            ValidationErrorKind.NotAnyOf => "must match one of the allowed schemas",
            ValidationErrorKind.ExcludedSchemaValidates => "must not match the excluded schema",
            _ when schema?.Format is { Length: > 0 } format && IsFormatKind(error.Kind) => $"must be a valid {format}",
            _ => Humanize(error.Kind.ToString()),
        };
    }

    private static bool IsFormatKind(ValidationErrorKind kind) => kind is
        ValidationErrorKind.DateTimeExpected or ValidationErrorKind.DateExpected or ValidationErrorKind.TimeExpected or
        ValidationErrorKind.TimeSpanExpected or ValidationErrorKind.UriExpected or ValidationErrorKind.EmailExpected or
        ValidationErrorKind.HostnameExpected or ValidationErrorKind.IpV4Expected or ValidationErrorKind.IpV6Expected or
        ValidationErrorKind.GuidExpected or ValidationErrorKind.UuidExpected or ValidationErrorKind.Base64Expected;

    private static IEnumerable<string> TypeNames(JsonObjectType type) =>
        Enum.GetValues<JsonObjectType>()
            .Where(t => t != JsonObjectType.None && type.HasFlag(t))
            .Select(t => t.ToString().ToLowerInvariant())
            .Order(StringComparer.Ordinal);

    /// <summary>An enum value as the message shows it: strings as they are, anything else as JSON.</summary>
    private static string Literal(object? value) => value switch
    {
        null => "null",
        string text => text,
        bool flag => flag ? "true" : "false",
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "null",
    };

    private static string Humanize(string kind)
    {
        var text = new System.Text.StringBuilder();
        foreach (var c in kind)
        {
            if (char.IsUpper(c) && text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }
}
