using System.Text.Json;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

public sealed class EmbedAndProvidersTests(PostgresServer server) : CliTest(server)
{
    private static double Norm(JsonElement vector) => Math.Sqrt(vector.EnumerateArray().Sum(v => v.GetDouble() * v.GetDouble()));

    [Fact]
    public async Task Embed_Hashing_Json_ExactShapeInInputOrderNormalized()
    {
        var result = await Cli.RunAsync("embed", "first text", "second text", "--json");

        var json = result.Json();
        Assert.Equal(["model", "dimensions", "embeddings", "usage", "truncated_inputs"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("hashing-384", json.GetProperty("model").GetString());
        Assert.Equal(0, json.GetProperty("truncated_inputs").GetInt32());
        Assert.Equal(384, json.GetProperty("dimensions").GetInt32());
        var embeddings = json.GetProperty("embeddings");
        Assert.Equal(2, embeddings.GetArrayLength());
        Assert.All(embeddings.EnumerateArray(), e => Assert.Equal(384, e.GetArrayLength()));
        Assert.All(embeddings.EnumerateArray(), e => Assert.InRange(Norm(e), 0.995, 1.005));
        Assert.Equal(JsonValueKind.Object, json.GetProperty("usage").ValueKind);

        var single = (await Cli.RunAsync("embed", "second text", "--json")).Json();
        Assert.Equal(embeddings[1].GetRawText(), single.GetProperty("embeddings")[0].GetRawText());
    }

    [Fact]
    public async Task Embed_LocalProvider_Json_CountsTheInputsCutAtTheTokenLimit()
    {
        var longText = string.Join(' ', Enumerable.Repeat("package descriptions are written by maintainers", 250));

        var result = await Cli.RunAsync("embed", "a short text", longText, "--json", "--provider", "local", "--model", "all-minilm-l6-v2");

        Assert.True(result.ExitCode == 0, result.Error);
        var json = result.Json();
        Assert.Equal("all-minilm-l6-v2", json.GetProperty("model").GetString());
        Assert.Equal(384, json.GetProperty("dimensions").GetInt32());
        Assert.Equal(1, json.GetProperty("truncated_inputs").GetInt32());
        Assert.All(json.GetProperty("embeddings").EnumerateArray(), e => Assert.InRange(Norm(e), 0.995, 1.005));
    }

    [Fact]
    public async Task Embed_LocalRetrievalModelAsQuery_UsesTheQueryPrefix()
    {
        var document = (await Cli.RunAsync("embed", "image editing", "--json", "--provider", "local")).Json();
        var query = (await Cli.RunAsync("embed", "image editing", "--query", "--json", "--provider", "local")).Json();
        var prefixed = (await Cli.RunAsync("embed", "Represent this sentence for searching relevant passages: image editing", "--json", "--provider", "local")).Json();

        Assert.Equal("arctic-embed-xs", query.GetProperty("model").GetString());
        Assert.NotEqual(document.GetProperty("embeddings")[0].GetRawText(), query.GetProperty("embeddings")[0].GetRawText());
        Assert.Equal(prefixed.GetProperty("embeddings")[0].GetRawText(), query.GetProperty("embeddings")[0].GetRawText());
    }

    [Fact]
    public async Task Embed_LocalProviderUnknownModel_NamesThePresets()
    {
        var result = await Cli.RunAsync("embed", "text", "--provider", "local", "--model", "bge-huge");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("arctic-embed-xs, all-minilm-l6-v2", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_FakeProvider_InputFileAndQuery_UsageAndNoSecret()
    {
        var file = WriteFile("texts.txt", "alpha\n\nbeta\ngamma\n");

        var result = await Cli.RunAsync("embed", "zero", "--input-file", file, "--query", "--json",
            "--provider", "openai-compatible", "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--dimensions", "16", "--api-key", ApiKey);

        var json = result.Json();
        Assert.Equal("m", json.GetProperty("model").GetString());
        Assert.Equal(16, json.GetProperty("dimensions").GetInt32());
        Assert.Equal(4, json.GetProperty("embeddings").GetArrayLength());
        Assert.True(json.GetProperty("usage").GetProperty("total_tokens").GetInt64() > 0);
        Assert.Contains("\"zero\",\"alpha\",\"beta\",\"gamma\"", Fake.LastRequestBody, StringComparison.Ordinal);
        AssertNoSecret(result);
    }

    [Fact]
    public async Task Embed_ProviderRejectsKey_OneLineErrorWithoutTheKey()
    {
        Fake.RequiredApiKey = "another-key";

        var result = await Cli.RunAsync("embed", "text", "--provider", "openai-compatible", "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--api-key", ApiKey);

        Assert.Equal(4, result.ExitCode);
        Assert.StartsWith("error: Embedding", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
        AssertNoSecret(result);
    }

    [Fact]
    public async Task Providers_Json_ListsEveryPreset()
    {
        var json = (await Cli.RunAsync("providers", "--json")).Json();

        var names = json.GetProperty("providers").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["hashing", "local", "openai-compatible", "openai", "azure-openai", "deepinfra", "dashscope", "jina", "voyage", "mistral", "ollama", "vllm", "tei"], names);
        var voyage = json.GetProperty("providers").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "voyage");
        Assert.Equal("output_dimension", voyage.GetProperty("dimensions_field").GetString());
        Assert.True(voyage.GetProperty("supports_dimensions").GetBoolean());
    }

    [Fact]
    public async Task Providers_Text_OneLinePerProviderName()
    {
        var result = await Cli.RunAsync("providers");

        result.AssertSucceeded();
        Assert.Contains(result.Out.Split('\n'), l => l.StartsWith("dashscope ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Version_PrintsTheVersion()
    {
        var result = await Cli.RunAsync("--version");

        result.AssertSucceeded();
        Assert.StartsWith("0.1.0", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preset_WithBaseUrlOverride_UsesIt()
    {
        var result = await Cli.RunAsync("embed", "hello", "--json", "--provider", "vllm", "--base-url", Fake.BaseUrl.ToString(), "--model", "m", "--dimensions", "8");

        var json = result.Json();
        Assert.Equal(8, json.GetProperty("dimensions").GetInt32());
        Assert.Equal(1, Fake.RequestCount);
    }
}
