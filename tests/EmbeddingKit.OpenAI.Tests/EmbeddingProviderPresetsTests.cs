using EmbeddingKit.TestInfrastructure.FakeProvider;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class EmbeddingProviderPresetsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void All_TenProviders_UniqueNamesAndSaneLimits()
    {
        Assert.Equal(10, EmbeddingProviderPresets.All.Count);
        Assert.Equal(10, EmbeddingProviderPresets.All.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(EmbeddingProviderPresets.All, p =>
        {
            Assert.InRange(p.MaxInputsPerRequest, 1, 2048);
            Assert.StartsWith("http", p.BaseUrl, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(p.Notes));
        });
    }

    [Fact]
    public void FromPreset_DashScope_BatchLimitTenAndFloats()
    {
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.Get("DashScope"), "text-embedding-v4", "key");

        Assert.Equal(10, options.MaxInputsPerRequest);
        Assert.Equal(EmbeddingEncodingFormat.Float, options.EncodingFormat);
        Assert.Equal("dashscope", options.ProviderName);
        options.Validate();
    }

    [Fact]
    public void FromPreset_DeepInfra_AsksForFloats()
    {
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.DeepInfra, "BAAI/bge-m3", "key");

        Assert.Equal(EmbeddingEncodingFormat.Float, options.EncodingFormat);
        Assert.Equal(new Uri("https://api.deepinfra.com/v1/openai"), options.BaseUrl);
    }

    [Fact]
    public void FromPreset_Voyage_UsesOutputDimensionAndInputType()
    {
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.Voyage, "voyage-3.5", "key");

        Assert.Equal("output_dimension", options.DimensionsFieldName);
        Assert.Equal("document", options.ExtraRequestFields["input_type"]!.GetValue<string>());
    }

    [Fact]
    public void FromPreset_AzureWithoutBaseUrl_FailsValidation()
    {
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.AzureOpenAI, "my-deployment", "key");

        Assert.Null(options.BaseUrl);
        Assert.Throws<EmbeddingConfigurationException>(options.Validate);
    }

    [Fact]
    public async Task FromPreset_Azure_SendsKeyInApiKeyHeader()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.RequiredApiKey = "azure-key";
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.AzureOpenAI, "my-deployment", "azure-key", server.BaseUrl);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(options);

        var result = await generator.GenerateAsync(["hello"], cancellationToken: Ct);

        Assert.Single(result);
        Assert.Equal("azure-key", server.LastAuthorization);
    }

    [Fact]
    public async Task FromPreset_DashScopeAgainstFake_SplitsIntoBatchesOfTen()
    {
        await using var server = await FakeEmbeddingServer.StartAsync(Ct);
        server.MaxBatchSize = 10;
        var options = OpenAICompatibleEmbeddingOptions.FromPreset(EmbeddingProviderPresets.DashScope, "text-embedding-v4", "key", server.BaseUrl);
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(options);

        var result = await generator.GenerateAsync(TestOptions.Texts(25), cancellationToken: Ct);

        Assert.Equal(25, result.Count);
        Assert.Equal(3, server.RequestCount);
        Assert.Contains("\"encoding_format\":\"float\"", server.LastRequestBody, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_UnknownName_ThrowsListingKnownNames()
    {
        var ex = Assert.Throws<ArgumentException>(() => EmbeddingProviderPresets.Get("nope"));

        Assert.Contains("openai", ex.Message, StringComparison.Ordinal);
    }
}
