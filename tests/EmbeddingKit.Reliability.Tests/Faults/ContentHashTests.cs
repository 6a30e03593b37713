using EmbeddingKit.OpenAI;
using EmbeddingKit.Reliability.Tests.Infrastructure;
using EmbeddingKit.Runtime;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Reliability.Tests.Faults;

/// <summary>
/// Issue 12, item 14: the unchanged-content check skips the provider only when nothing that determines the vector
/// changed (prefix, options, provider model id, dimensions), and rows written with the earlier text-only hash are not
/// all re-embedded on upgrade.
/// </summary>
public sealed class ContentHashTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Changes => ["prefix", "options", "provider-model"];

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task Handle_SameTextButWhatDeterminesTheVectorChanged_ReEmbeds(string change)
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(5, cancellationToken: Ct);
        using var before = Generator(stack, "m");
        await DrainAsync(stack, new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, before), Ct);
        using var after = Generator(stack, change == "provider-model" ? "m-v2" : "m");
        var changed = new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, after)
        {
            DocumentPrefix = change == "prefix" ? "passage: " : null,
            DocumentOptions = change == "options" ? new EmbeddingGenerationOptions { AdditionalProperties = new() { ["input_type"] = "document" } } : null,
        };
        var requests = stack.Provider.RequestCount;

        await stack.SeedAsync(5, cancellationToken: Ct);
        await DrainAsync(stack, changed, Ct);

        Assert.True(stack.Provider.RequestCount > requests, $"{change}: nothing was re-embedded");
        Assert.Equal(5, stack.Provider.InputCount - 5);
    }

    [Fact]
    public async Task Handle_SameTextAndSameSettings_SkipsTheProvider()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(5, cancellationToken: Ct);
        using var generator = Generator(stack, "m");
        var model = new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, generator) { DocumentPrefix = "passage: " };
        await DrainAsync(stack, model, Ct);
        var requests = stack.Provider.RequestCount;

        await stack.SeedAsync(5, cancellationToken: Ct);
        await DrainAsync(stack, model, Ct);

        Assert.Equal(requests, stack.Provider.RequestCount);
        Assert.Equal(5, await stack.CountAsync("SELECT count(*) FROM {vectors}", Ct));
    }

    [Fact]
    public async Task Handle_RowsWithTheEarlierTextOnlyHash_NotReEmbeddedOnUpgrade()
    {
        await using var stack = await FaultStack.CreateAsync(server, cancellationToken: Ct);
        await stack.SeedAsync(5, cancellationToken: Ct);
        using var generator = Generator(stack, "m");
        var model = new EmbeddingModel(FaultStack.Model, FaultStack.Dimensions, generator);
        await DrainAsync(stack, model, Ct);

        // What an earlier version stored: SHA-256 of model name and text only.
        foreach (var (id, text) in stack.Documents.Texts)
        {
            await using var command = stack.DataSource.CreateCommand($"UPDATE {stack.Table.QualifiedName} SET content_hash = $1 WHERE entity_id = $2");
            command.Parameters.AddWithValue(ContentHash.Compute(FaultStack.Model, text));
            command.Parameters.AddWithValue(id);
            Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
        }

        var requests = stack.Provider.RequestCount;
        await stack.SeedAsync(5, cancellationToken: Ct);
        await DrainAsync(stack, model, Ct);

        Assert.Equal(requests, stack.Provider.RequestCount);
        Assert.Equal(0, await stack.CountAsync("SELECT count(*) FROM {tasks}", Ct));
    }

    private static IEmbeddingGenerator<string, Embedding<float>> Generator(FaultStack stack, string providerModel) =>
        OpenAICompatibleEmbeddingGenerator.Create(new OpenAICompatibleEmbeddingOptions
        {
            BaseUrl = stack.Provider.BaseUrl,
            ApiKey = FaultStack.ApiKey,
            Model = providerModel,
            Dimensions = FaultStack.Dimensions,
        });

    private static async Task DrainAsync(FaultStack stack, EmbeddingModel model, CancellationToken cancellationToken)
    {
        var runtime = new EmbeddingRuntime(new EmbeddingModelRegistry(model), stack.Documents, stack.Storage, stack.PostgresQueue);
        var result = await EmbeddingTaskDrain.RunOnceAsync(stack.PostgresQueue, runtime, 100, "w", TimeSpan.FromSeconds(30), cancellationToken: cancellationToken);
        Assert.Equal(0, result.Failure.Retried.Count + result.Failure.Dead.Count);
    }
}
