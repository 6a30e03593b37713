using System.Text.Json;
using System.Text.Json.Nodes;
using EmbeddingKit.TestInfrastructure.FakeProvider;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.OpenAI.Tests;

public sealed class RequestFieldsTests
{
    [Fact]
    public async Task GenerateAsync_CallAdditionalProperties_AreSentAndOverrideConfiguredExtraFields()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await FakeEmbeddingServer.StartAsync(ct);
        var options = TestOptions.For(server);
        options.ExtraRequestFields["input_type"] = JsonValue.Create("document");
        options.ExtraRequestFields["truncate"] = JsonValue.Create("END");
        using var generator = OpenAICompatibleEmbeddingGenerator.Create(options);

        await generator.GenerateAsync(["what is pgvector?"], new EmbeddingGenerationOptions { AdditionalProperties = new() { ["input_type"] = "query", ["top_k"] = 3 } }, ct);
        using var query = JsonDocument.Parse(server.LastRequestBody!);
        await generator.GenerateAsync(["a stored document"], cancellationToken: ct);
        using var document = JsonDocument.Parse(server.LastRequestBody!);

        Assert.Equal("query", query.RootElement.GetProperty("input_type").GetString());
        Assert.Equal(3, query.RootElement.GetProperty("top_k").GetInt32());
        Assert.Equal("END", query.RootElement.GetProperty("truncate").GetString());
        Assert.Equal("document", document.RootElement.GetProperty("input_type").GetString());
    }
}
