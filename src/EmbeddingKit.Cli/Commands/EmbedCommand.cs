using System.CommandLine;
using System.Globalization;
using EmbeddingKit.Cli.Infrastructure;
using EmbeddingKit.Vectors;

namespace EmbeddingKit.Cli.Commands;

/// <summary><c>embeddingkit embed [TEXT ...] [--input-file F] [--query] [--json]</c>: embeds texts directly, without a database.</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var texts = new Argument<string[]>("text") { Description = "Texts to embed.", Arity = ArgumentArity.ZeroOrMore };
        var inputFile = new Option<string?>("--input-file") { Description = "A file with one text per line (blank lines skipped); - for stdin." };
        var query = new Option<bool>("--query") { Description = "Embed as search queries (the model's query prefix and options) rather than documents." };
        var command = new Command("embed", "Embed texts with the configured provider and print the vectors, L2-normalized and rounded to fp16 as stored (no database; for checking a provider).");
        command.Arguments.Add(texts);
        command.Options.Add(inputFile);
        command.Options.Add(query);
        command.Options.Add(CommonOptions.Json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var settings = CliSettings.From(parseResult);
            var reporter = new Reporter(parseResult.GetValue(CommonOptions.Json));
            var inputs = new List<string>(parseResult.GetValue(texts) ?? []);
            if (parseResult.GetValue(inputFile) is { } file)
            {
                inputs.AddRange(await ReadLinesAsync(file, cancellationToken));
            }

            if (inputs.Count == 0)
            {
                throw new CliException("nothing to embed: give texts as arguments or --input-file", 2);
            }

            if (inputs.FindIndex(string.IsNullOrWhiteSpace) is var blank and >= 0)
            {
                throw new CliException($"input {blank} is empty", 2);
            }

            using var setup = ModelSetup.Create(settings, requireDimensions: false);
            var model = setup.Model;
            var asQuery = parseResult.GetValue(query);
            var prefix = asQuery ? model.QueryPrefix : model.DocumentPrefix;
            Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>> generated;
            try
            {
                generated = await model.Generator.GenerateAsync(inputs.Select(t => prefix + t), asQuery ? model.QueryOptions : model.DocumentOptions, cancellationToken);
            }
            catch (EmbeddingKitException e)
            {
                throw new CliException($"{e.GetType().Name}: {CliSettings.OneLine(e)}", 4, e);
            }
            if (generated.Count != inputs.Count)
            {
                throw new CliException($"the provider returned {generated.Count} embeddings for {inputs.Count} inputs", 4);
            }

            var vectors = new List<float[]>(generated.Count);
            var half = Array.Empty<Half>();
            foreach (var embedding in generated)
            {
                var span = embedding.Vector.Span;
                if (setup.RequestedDimensions is { } wanted && span.Length != wanted)
                {
                    throw new CliException($"the provider returned {span.Length} dimensions; --dimensions is {wanted}", 4);
                }

                if (half.Length != span.Length)
                {
                    half = new Half[span.Length];
                }

                try
                {
                    VectorMath.NormalizeToHalf(span, half);
                }
                catch (InvalidVectorException e)
                {
                    throw new CliException($"the provider returned an unusable vector: {e.Message}", 4);
                }

                vectors.Add([.. half.Select(h => (float)h)]);
            }

            var dimensions = vectors[0].Length;
            var usage = generated.Usage;
            // How many inputs the model cut at its token limit: a local model says; hashing never cuts; a remote provider
            // does not say (null).
            var truncated = generated.AdditionalProperties?.TryGetValue(Onnx.LocalModel.TruncatedInputsProperty, out var cut) == true ? cut as int?
                : setup.IsHashing ? 0 : null;
            if (reporter.Json)
            {
                JsonOutput.Write(new
                {
                    model = model.Name,
                    dimensions,
                    embeddings = vectors,
                    usage = new { promptTokens = usage?.InputTokenCount, totalTokens = usage?.TotalTokenCount },
                    truncatedInputs = truncated,
                });
                return 0;
            }

            reporter.Line($"{model.Name} ({setup.Provider}): {vectors.Count} embedding(s) of {dimensions} dimensions{(usage?.TotalTokenCount is { } tokens ? $", {tokens} tokens" : "")}{(truncated is > 0 ? $", {truncated} input(s) cut at the model's token limit" : "")}");
            for (var i = 0; i < vectors.Count; i++)
            {
                var head = string.Join(", ", vectors[i].Take(6).Select(v => v.ToString("0.0000", CultureInfo.InvariantCulture)));
                var label = inputs[i].Length > 40 ? string.Concat(inputs[i].AsSpan(0, 37), "...") : inputs[i];
                reporter.Line($"  [{i}] {label}: [{head}, ...]");
            }

            return 0;
        });
        return command;
    }

    private static async Task<List<string>> ReadLinesAsync(string file, CancellationToken cancellationToken)
    {
        try
        {
            using var reader = file == "-" ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(file);
            var lines = new List<string>();
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (!string.IsNullOrWhiteSpace(line))
                {
                    lines.Add(line);
                }
            }

            return lines;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{file}: {CliSettings.OneLine(e)}", 2);
        }
    }
}
