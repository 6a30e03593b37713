using System.Text;
using CsCheck;
using EmbeddingKit.Cli.Infrastructure;

namespace EmbeddingKit.Reliability.Tests.Fuzzing;

/// <summary>
/// The CLI's JSONL reader (what <c>ingest</c> reads) fed random lines built from JSON fragments and raw bytes: it
/// returns documents or throws a <see cref="CliException"/> naming the file, never anything else, within 5 s per case.
/// </summary>
public sealed class JsonlReaderFuzzTests
{
    private static readonly string[] Fragments =
    [
        "{", "}", "[", "]", ",", ":", "\"id\"", "\"text\"", "\"meta\"", "\"x\"", "\"\"", "1", "-0.5e3", "1e999", "null", "true",
        "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"", "\"\\uFFFF\"", "\"\\\"", "\\", "\n", "\r\n", " ", "\t", "é", "\u2028", "{\"id\":\"a\",\"text\":\"b\"}",
    ];

    [Fact]
    public void ReadAsync_RandomJsonLines_DocumentsOrCliExceptionOnly()
    {
        var folder = Directory.CreateTempSubdirectory("embeddingkit-fuzz-").FullName;
        var cases = 0;
        var accepted = 0;
        try
        {
            var fragment = Gen.Int[0, Fragments.Length - 1].Select(i => Encoding.UTF8.GetBytes(Fragments[i]));
            var raw = Gen.Byte.Array[1, 4];
            var piece = Gen.Frequency((8, fragment), (1, raw));
            piece.Array[0, 40].Select(parts => parts.SelectMany(p => p).ToArray()).Sample(content =>
            {
                cases++;
                var file = Path.Combine(folder, "f.jsonl");
                File.WriteAllBytes(file, content);
                var read = Task.Run(async () =>
                {
                    try
                    {
                        await SourceFiles.ReadAsync(file, null, CancellationToken.None).ToListAsync();
                        return true;
                    }
                    catch (CliException e) when (e.Message.Contains("f.jsonl", StringComparison.Ordinal))
                    {
                        return false;
                    }
                });
                if (!read.Wait(TimeSpan.FromSeconds(5)))
                {
                    throw new TimeoutException($"the reader did not return within 5 s on {Convert.ToBase64String(content)}");
                }

                accepted += read.Result ? 1 : 0;
            }, iter: 1_500, threads: 1);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }

        Assert.Equal(1_500, cases);
        Assert.InRange(accepted, 1, cases - 1);
    }
}
