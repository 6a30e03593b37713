using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>
/// Reads documents from JSONL (<c>id</c>, <c>text</c>, other fields kept as metadata), CSV (a header row with <c>id</c>
/// and <c>text</c> columns, the other columns kept as metadata) and plain text or Markdown files (one document each, the
/// id being the path relative to the folder). Any malformed record fails the whole file with its file and line.
/// </summary>
internal static class SourceFiles
{
    private static readonly string[] Extensions = [".jsonl", ".ndjson", ".csv", ".txt", ".md"];

    /// <summary>The files to ingest: the file itself, or the supported files under a folder, in ordinal order.</summary>
    public static IReadOnlyList<string> Resolve(string path)
    {
        if (File.Exists(path))
        {
            if (!IsSupported(path))
            {
                throw new CliException($"{path}: unsupported file type (use .jsonl, .ndjson, .csv, .txt or .md)", 2);
            }

            return [path];
        }

        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(IsSupported)
                .Order(StringComparer.Ordinal)
                .ToList();
            return files.Count == 0 ? throw new CliException($"{path}: no .jsonl, .ndjson, .csv, .txt or .md files in this folder", 2) : files;
        }

        throw new CliException($"{path}: no such file or folder", 2);
    }

    /// <summary>
    /// The documents of one file, in order: JSONL line by line (memory stays flat, whatever the file's size); CSV and
    /// text files are read whole. A malformed record throws when it is reached; the caller writes a file in one
    /// transaction, so nothing of it is kept.
    /// </summary>
    public static async IAsyncEnumerable<SourceDocument> ReadAsync(string file, string? root, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var extension = Path.GetExtension(file).ToLowerInvariant();
        if (extension is ".jsonl" or ".ndjson")
        {
            await foreach (var document in ReadJsonLinesAsync(file, cancellationToken))
            {
                yield return document;
            }

            yield break;
        }

        var documents = extension == ".csv" ? await ReadCsvAsync(file, cancellationToken) : await ReadTextAsync(file, root, cancellationToken);
        foreach (var document in documents)
        {
            yield return document;
        }
    }

    private static bool IsSupported(string file) => Extensions.Contains(Path.GetExtension(file).ToLowerInvariant());

    private static async IAsyncEnumerable<SourceDocument> ReadJsonLinesAsync(string file, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(file, Encoding.UTF8);
        var number = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonObject record;
            try
            {
                record = JsonNode.Parse(line) as JsonObject ?? throw new CliException(Where(file, number, "expected a JSON object"), 2);
            }
            catch (JsonException e)
            {
                throw new CliException(Where(file, number, "malformed JSON: " + e.Message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0]), 2);
            }

            string id;
            string text;
            try
            {
                id = record["id"] switch
                {
                    JsonValue value when value.TryGetValue<string>(out var s) => s,
                    JsonValue value when value.GetValueKind() == JsonValueKind.Number => value.ToJsonString(),
                    _ => throw new CliException(Where(file, number, "\"id\" must be a string or a number"), 2),
                };
                text = record["text"] is JsonValue t && t.TryGetValue<string>(out var s2) ? s2 : throw new CliException(Where(file, number, "\"text\" must be a string"), 2);
            }
            catch (InvalidOperationException)
            {
                // System.Text.Json refuses to materialize a string with a lone surrogate escape (\ud800): not text.
                throw new CliException(Where(file, number, "invalid string: a \\u escape is a lone UTF-16 surrogate"), 2);
            }

            Check(file, number, id, text);
            record.Remove("id");
            record.Remove("text");
            yield return new SourceDocument(id, text, record.Count == 0 ? null : record.ToJsonString());
        }
    }

    private static async Task<List<SourceDocument>> ReadCsvAsync(string file, CancellationToken cancellationToken)
    {
        var content = await File.ReadAllTextAsync(file, Encoding.UTF8, cancellationToken);
        var records = ParseCsv(file, content);
        if (records.Count == 0)
        {
            throw new CliException(Where(file, 1, "empty file: a header row with id and text columns is required"), 2);
        }

        var header = records[0].Fields;
        var idColumn = header.FindIndex(h => h.Trim().Equals("id", StringComparison.OrdinalIgnoreCase));
        var textColumn = header.FindIndex(h => h.Trim().Equals("text", StringComparison.OrdinalIgnoreCase));
        if (idColumn < 0 || textColumn < 0)
        {
            throw new CliException(Where(file, 1, "the header row needs an id and a text column"), 2);
        }

        var documents = new List<SourceDocument>(records.Count - 1);
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue;
            }

            if (fields.Count != header.Count)
            {
                throw new CliException(Where(file, line, $"expected {header.Count} fields, found {fields.Count}"), 2);
            }

            Check(file, line, fields[idColumn], fields[textColumn]);
            var metadata = new JsonObject();
            for (var i = 0; i < header.Count; i++)
            {
                if (i != idColumn && i != textColumn)
                {
                    metadata[header[i].Trim()] = fields[i];
                }
            }

            documents.Add(new SourceDocument(fields[idColumn], fields[textColumn], metadata.Count == 0 ? null : metadata.ToJsonString()));
        }

        return documents;
    }

    private static async Task<List<SourceDocument>> ReadTextAsync(string file, string? root, CancellationToken cancellationToken)
    {
        var text = await File.ReadAllTextAsync(file, Encoding.UTF8, cancellationToken);
        var id = Path.GetRelativePath(root ?? Path.GetDirectoryName(Path.GetFullPath(file))!, file).Replace('\\', '/');
        Check(file, 1, id, text);
        return [new SourceDocument(id, text, null)];
    }

    private static void Check(string file, int line, string id, string text)
    {
        if (id.Length == 0)
        {
            throw new CliException(Where(file, line, "the id is empty"), 2);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            throw new CliException(Where(file, line, "the text is empty"), 2);
        }

        if (text.Contains('\0', StringComparison.Ordinal) || id.Contains('\0', StringComparison.Ordinal))
        {
            throw new CliException(Where(file, line, "NUL characters are not allowed"), 2);
        }
    }

    private static string Where(string file, int line, string problem) =>
        string.Create(CultureInfo.InvariantCulture, $"{file}:{line}: {problem}; nothing of this file was ingested");

    /// <summary>RFC 4180: quoted fields may hold commas, quotes ("") and line breaks. Returns each record with the line it starts on.</summary>
    private static List<(int Line, List<string> Fields)> ParseCsv(string file, string content)
    {
        var records = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var recordLine = 1;
        var quoted = false;
        var i = 0;
        if (content.Length > 0 && content[0] == '\uFEFF')
        {
            i = 1;
        }

        for (; i < content.Length; i++)
        {
            var c = content[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < content.Length && content[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (c == '\n')
                    {
                        line++;
                    }

                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                if (field.Length > 0)
                {
                    throw new CliException(Where(file, line, "a quote inside an unquoted field"), 2);
                }

                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < content.Length && content[i + 1] == '\n')
                {
                    i++;
                }

                fields.Add(field.ToString());
                field.Clear();
                records.Add((recordLine, fields));
                fields = [];
                line++;
                recordLine = line;
            }
            else
            {
                field.Append(c);
            }
        }

        if (quoted)
        {
            throw new CliException(Where(file, recordLine, "unterminated quoted field"), 2);
        }

        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            records.Add((recordLine, fields));
        }

        return records;
    }
}
