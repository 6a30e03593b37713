using System.Text;
using System.Text.RegularExpressions;

namespace EmbeddingKit.Postgres;

/// <summary>
/// Validates and quotes SQL identifiers (schema, table, column and index names) that EmbeddingKit splices into SQL.
/// Values never go this way: they are always parameters.
/// </summary>
public static partial class PostgresIdentifier
{
    /// <summary>PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).</summary>
    public const int MaxBytes = 63;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is a plain identifier: a letter or underscore,
    /// then letters, digits, underscores or dollar signs, at most 63 bytes.
    /// </summary>
    /// <returns>The name, for chaining.</returns>
    public static string Validate(string name, string parameterName = "name")
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("An SQL identifier must not be empty.", parameterName);
        }

        if (Encoding.UTF8.GetByteCount(name) > MaxBytes)
        {
            throw new ArgumentException($"The SQL identifier is longer than {MaxBytes} bytes.", parameterName);
        }

        if (!PlainIdentifier().IsMatch(name))
        {
            throw new ArgumentException(
                "The SQL identifier must start with a letter or underscore and hold only letters, digits, underscores and dollar signs.",
                parameterName);
        }

        return name;
    }

    /// <summary>Validates <paramref name="name"/> and returns it double-quoted, ready to splice into SQL.</summary>
    public static string Quote(string name, string parameterName = "name") => "\"" + Validate(name, parameterName) + "\"";

    /// <summary>Returns <c>"schema"."name"</c> with both parts validated and quoted.</summary>
    public static string Qualify(string schema, string name) => Quote(schema, nameof(schema)) + "." + Quote(name, nameof(name));

    /// <summary>
    /// Returns a string literal for places where PostgreSQL cannot take a parameter (index predicates, or a partial
    /// index that a generic plan would not use). Rejects NUL and doubles single quotes. A value holding a backslash is
    /// written as an escape string (<c>E'a\\b'</c>, backslashes doubled), which means the same whatever the server's
    /// <c>standard_conforming_strings</c>: in a plain <c>'…'</c> literal with that setting off, a backslash would escape
    /// the quote after it. Other values stay plain <c>'…'</c> literals.
    /// </summary>
    internal static string QuoteLiteral(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A SQL literal cannot contain NUL characters.", nameof(value));
        }

        var quoted = "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
        return value.Contains('\\', StringComparison.Ordinal) ? "E" + quoted.Replace("\\", "\\\\", StringComparison.Ordinal) : quoted;
    }

    // \z, not $: $ also matches before a final newline, which would let "app\n" through.
    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_$]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex PlainIdentifier();
}
