using EmbeddingKit.TestInfrastructure.FakeProvider;
using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Samples.Tests;

public sealed class ModelRolloutSampleTests(PostgresServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<bool> Providers => [true, false];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task ModelRollout_FreshSchema_WalksEveryStepAndExitsZero(bool throughFakeProvider)
    {
        await using var provider = await FakeEmbeddingServer.StartAsync(Ct);
        var schema = PostgresServer.NewSchemaName("sample_rollout");
        var environment = new Dictionary<string, string> { ["ConnectionStrings__EmbeddingKit"] = await server.GetConnectionStringAsync(Ct) };
        var (current, next) = ("hashing-256", "hashing-384");
        if (throughFakeProvider)
        {
            (current, next) = ("fake-v1", "fake-v2");
            foreach (var (key, model, dimensions) in new[] { ("Current", current, "32"), ("Next", next, "48") })
            {
                environment[$"EmbeddingKit__Models__{key}__BaseUrl"] = provider.BaseUrl.ToString();
                environment[$"EmbeddingKit__Models__{key}__Model"] = model;
                environment[$"EmbeddingKit__Models__{key}__Dimensions"] = dimensions;
            }
        }

        await using var sample = SampleProcess.Start("ModelRollout", "ModelRollout", environment, "--schema", schema);
        var exitCode = await sample.WaitForExitAsync();

        var output = sample.Output;
        Assert.True(exitCode == 0, output);
        foreach (var step in new[] { "1. Today", "2. Dual-write", "3. Backfill", "4. Coverage check", "5. Switch", "6. Finish", "7. Retire" })
        {
            Assert.Contains(step, output, StringComparison.Ordinal);
        }

        Assert.Contains("refused: ", output, StringComparison.Ordinal);
        Assert.Contains($"found through {current}", output, StringComparison.Ordinal);
        Assert.Contains($"Rollout complete: document search now runs on {next}.", output, StringComparison.Ordinal);
        Assert.Equal(throughFakeProvider, provider.InputCount > 0);

        // The database agrees with what the program printed.
        var dataSource = await server.GetDataSourceAsync(Ct);
        await using var command = dataSource.CreateCommand($"SELECT model || '/' || coalesce(previous_model, '-') FROM \"{schema}\".embeddingkit_active_models WHERE entity_type = 'document'");
        Assert.Equal($"{next}/-", (string?)await command.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task ModelRollout_SchemaAlreadyUsed_RefusesWithoutResetAndExitsOne()
    {
        var schema = await server.CreateSchemaAsync("sample_rollout_used", Ct);

        await using var sample = SampleProcess.Start("ModelRollout", "ModelRollout", new Dictionary<string, string>
        {
            ["ConnectionStrings__EmbeddingKit"] = await server.GetConnectionStringAsync(Ct),
        }, "--schema", schema);

        Assert.Equal(1, await sample.WaitForExitAsync());
        Assert.Contains($"Schema \"{schema}\" already exists", sample.Output, StringComparison.Ordinal);
    }
}
