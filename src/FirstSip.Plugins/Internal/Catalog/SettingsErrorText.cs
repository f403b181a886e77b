using System.Globalization;
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
            ValidationErrorKind.NotInEnumeration when schema is not null =>
                "must be one of: " + string.Join(", ", schema.Enumeration.Select(v => v?.ToString() ?? "null")),
            ValidationErrorKind.TooManyItems when schema?.MaxItems > 0 =>
                string.Create(CultureInfo.InvariantCulture, $"must have at most {schema.MaxItems} items"),
            ValidationErrorKind.TooFewItems when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must have at least {schema.MinItems} items"),
            ValidationErrorKind.StringTooShort when schema is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at least {schema.MinLength} characters long"),
            ValidationErrorKind.StringTooLong when schema?.MaxLength is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at most {schema.MaxLength} characters long"),
            ValidationErrorKind.NumberTooSmall when schema?.Minimum is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at least {schema.Minimum}"),
            ValidationErrorKind.NumberTooBig when schema?.Maximum is not null =>
                string.Create(CultureInfo.InvariantCulture, $"must be at most {schema.Maximum}"),
            ValidationErrorKind.PatternMismatch when schema?.Pattern is not null => $"must match the pattern {schema.Pattern}",
            ValidationErrorKind.UriExpected => "must be a URI",
            _ => Humanize(error.Kind.ToString()),
        };
    }

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
