using EmbeddingKit.TestInfrastructure.Postgres;

namespace EmbeddingKit.Cli.Tests;

public sealed class OperationsTests(PostgresServer server) : CliTest(server)
{
    private async Task IngestAsync(int count, string entityType = "item")
    {
        var documents = Enumerable.Range(0, count).Select(i => ($"d{i:D3}", $"document number {i} about topic {i % 7} and colour {i % 5}")).ToArray();
        (await RunAsync("ingest", WriteFile($"{entityType}.jsonl", Jsonl(documents)), "--entity-type", entityType)).AssertSucceeded();
    }

    [Fact]
    public async Task Migrate_Json_ReportsTheVersion()
    {
        var json = (await RunAsync("migrate", "--json")).Json();

        Assert.Equal(Schema, json.GetProperty("schema").GetString());
        Assert.True(json.GetProperty("version").GetInt32() >= 3);
    }

    [Fact]
    public async Task Status_Json_CoverageTasksAndDeadErrors()
    {
        await IngestAsync(5);
        await RunAsync("work", "--until-idle");
        await RunAsync("ingest", WriteFile("more.jsonl", Jsonl(("d100", "one more document"))), "--entity-type", "item");

        // A blank document fails permanently: its task goes dead with the error.
        await ExecuteAsync("INSERT INTO {s}.embeddingkit_documents (entity_type, id, text, content_hash) VALUES ('item', 'blank', '   ', '\\x00')");
        await RunAsync("enqueue", "--entity-type", "item", "--missing");

        var json = (await RunAsync("status", "--json")).Json();

        Assert.Equal(Schema, json.GetProperty("schema").GetString());
        var item = json.GetProperty("entity_types").EnumerateArray().Single(e => e.GetProperty("entity_type").GetString() == "item");
        Assert.Equal(7, item.GetProperty("documents").GetInt64());
        var model = item.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("model").GetString() == "hashing-384");
        Assert.Equal(5, model.GetProperty("stored").GetInt64());
        Assert.Equal(Math.Round(5 / 7.0, 4), model.GetProperty("coverage").GetDouble());
        Assert.Equal(2, model.GetProperty("tasks").GetProperty("ready").GetInt64());
        Assert.Equal(2, model.GetProperty("outstanding").GetInt64());
        Assert.True(model.GetProperty("oldest_pending_age_seconds").GetDouble() >= 0);

        await RunAsync("work", "--until-idle");
        var after = (await RunAsync("status", "--json")).Json().GetProperty("entity_types")[0].GetProperty("models")[0];
        Assert.Equal(1, after.GetProperty("tasks").GetProperty("dead").GetInt64());
        var error = after.GetProperty("last_errors")[0];
        Assert.Equal("blank", error.GetProperty("entity_id").GetString());
        Assert.Contains("empty or whitespace", error.GetProperty("error").GetString(), StringComparison.Ordinal);

        var text = await RunAsync("status");
        Assert.Contains("dead blank", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetryDead_And_Prune_Json()
    {
        await ExecuteAsync("SELECT 1"); // the server is up
        await RunAsync("migrate");
        await RunAsync("ingest", WriteFile("one.jsonl", Jsonl(("ok", "fine"))), "--entity-type", "item");
        await ExecuteAsync("INSERT INTO {s}.embeddingkit_documents (entity_type, id, text, content_hash) VALUES ('item', 'blank', ' ', '\\x00')");
        await RunAsync("enqueue", "--entity-type", "item");
        await RunAsync("work", "--until-idle");

        var retried = (await RunAsync("retry-dead", "--json")).Json();
        Assert.Equal(1, retried.GetProperty("requeued").GetInt32());
        Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks"));

        await RunAsync("work", "--until-idle");
        Assert.Equal(0, (await RunAsync("prune", "--json")).Json().GetProperty("pruned").GetInt32());
        var pruned = (await RunAsync("prune", "--older-than", "0", "--json")).Json();
        Assert.Equal(1, pruned.GetProperty("pruned").GetInt32());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks_dead"));
    }

    [Fact]
    public async Task Enqueue_MissingThenAll_Json()
    {
        await IngestAsync(12);
        await RunAsync("work", "--until-idle");

        // A second model backfills: everything is missing for it.
        var missing = (await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64", "--missing", "--batch-size", "5", "--json")).Json();
        Assert.Equal(12, missing.GetProperty("enqueued").GetInt64());
        Assert.Equal("hashing-64", missing.GetProperty("model").GetString());
        Assert.Equal("missing", missing.GetProperty("mode").GetString());

        var worked = (await RunAsync("work", "--until-idle", "--model", "hashing-64", "--json")).Json();
        Assert.Equal(12, worked.GetProperty("completed").GetInt64());
        Assert.Equal(0, (await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64", "--json")).Json().GetProperty("enqueued").GetInt64());
        Assert.Equal(12, (await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64", "--all", "--json")).Json().GetProperty("enqueued").GetInt64());
    }

    [Fact]
    public async Task Tune_Json_RowsAndSavedRecommendation()
    {
        await IngestAsync(60);
        await RunAsync("work", "--until-idle");

        var json = (await RunAsync("tune", "--entity-type", "item", "--model", "hashing-384", "--sample", "10", "-k", "5", "--json")).Json();

        Assert.Equal("hashing-384", json.GetProperty("model").GetString());
        Assert.Equal(10, json.GetProperty("sample_size").GetInt32());
        var rows = json.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(16, rows.Count);
        Assert.All(rows, r => Assert.InRange(r.GetProperty("recall_at_k").GetDouble(), 0, 1));
        Assert.Contains(rows, r => r.GetProperty("path").GetString() == "two-stage" && r.GetProperty("oversample").GetInt32() == 32);
        Assert.Contains(rows, r => r.GetProperty("path").GetString() == "hnsw" && r.GetProperty("ef_search").GetInt32() == 400);
        var recommendation = json.GetProperty("recommendation");
        Assert.True(json.GetProperty("saved").GetBoolean());
        Assert.Equal(recommendation.GetProperty("ef_search").GetInt32(), await ScalarAsync<int>("SELECT ef_search FROM {s}.embeddingkit_model_settings WHERE model = 'hashing-384'"));

        var status = (await RunAsync("status", "--json")).Json().GetProperty("entity_types")[0].GetProperty("models")[0];
        Assert.Equal(recommendation.GetProperty("oversample").GetInt32(), status.GetProperty("search_settings").GetProperty("oversample").GetInt32());
    }

    [Fact]
    public async Task ModelsActivate_UntunedModel_TunesOnASampleAndSavesTheSetting_UnlessNoTune()
    {
        await IngestAsync(60);
        await RunAsync("work", "--until-idle");
        await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64");
        await RunAsync("work", "--model", "hashing-64", "--until-idle");

        var activated = (await RunAsync("models", "activate", "hashing-384", "--entity-type", "item", "--json")).Json();
        var skipped = (await RunAsync("models", "activate", "hashing-64", "--entity-type", "item", "--no-tune", "--json")).Json();

        var settings = activated.GetProperty("search_settings");
        var saved = await ScalarAsync<string>("SELECT path || ' ' || oversample || ' ' || ef_search FROM {s}.embeddingkit_model_settings WHERE model = 'hashing-384'");
        Assert.Equal($"{settings.GetProperty("path").GetString()} {settings.GetProperty("oversample").GetInt32()} {settings.GetProperty("ef_search").GetInt32()}", saved);
        Assert.InRange(settings.GetProperty("recall_at_k").GetDouble(), 0.95, 1);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, skipped.GetProperty("search_settings").ValueKind);
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_model_settings WHERE model = 'hashing-64'"));
    }

    [Fact]
    public async Task ModelsIndex_KeepsValid_RebuildsInvalid_BuildsMissing()
    {
        await IngestAsync(10);
        await RunAsync("work", "--until-idle");
        var first = (await RunAsync("models", "index", "hashing-384", "--json")).Json().GetProperty("indexes").EnumerateArray().ToList();
        var hnsw = first.Single(i => i.GetProperty("kind").GetString() == "hnsw").GetProperty("name").GetString();
        var bq = first.Single(i => i.GetProperty("kind").GetString() == "binary_quantized").GetProperty("name").GetString();

        // An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index; a dropped one is missing.
        await ExecuteAsync($"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{{s}}.\"{hnsw}\"'::regclass");
        await ExecuteAsync($"DROP INDEX {{s}}.\"{bq}\"");
        var second = (await RunAsync("models", "index", "hashing-384", "--json")).Json();
        var unknown = await RunAsync("models", "index", "no-such-model");

        Assert.All(first, i => Assert.Equal("kept", i.GetProperty("action").GetString()));
        var actions = second.GetProperty("indexes").EnumerateArray().ToDictionary(i => i.GetProperty("name").GetString()!, i => i.GetProperty("action").GetString());
        Assert.Equal("rebuilt", actions[hnsw!]);
        Assert.Equal("built", actions[bq!]);
        Assert.All(second.GetProperty("indexes").EnumerateArray(), i => Assert.True(i.GetProperty("valid").GetBoolean()));
        Assert.Equal(2L, await ScalarAsync<long>($"SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid IN ('{{s}}.\"{hnsw}\"'::regclass, '{{s}}.\"{bq}\"'::regclass)"));
        Assert.Equal(2, unknown.ExitCode);
    }

    [Fact]
    public async Task ModelsRetire_RefusedWhileActive_DeletesVectorsTasksAndIndexesOfThatModelOnly_Idempotent()
    {
        await IngestAsync(10);
        await RunAsync("work", "--until-idle");
        await RunAsync("models", "activate", "hashing-384", "--entity-type", "item");
        await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64");
        (await RunAsync("work", "--model", "hashing-64", "--until-idle")).AssertSucceeded();
        await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64", "--all");

        var refused = await RunAsync("models", "retire", "hashing-384");
        var retired = (await RunAsync("models", "retire", "hashing-64", "--json")).Json();
        var again = (await RunAsync("models", "retire", "hashing-64", "--json")).Json();
        var unknown = await RunAsync("models", "retire", "no-such-model");

        Assert.Equal(5, refused.ExitCode);
        Assert.Contains("active search model of item", refused.Error, StringComparison.Ordinal);
        Assert.Equal("hashing-64", retired.GetProperty("model").GetString());
        Assert.Equal(10, retired.GetProperty("vectors_deleted").GetInt32());
        Assert.Equal(10, retired.GetProperty("tasks_deleted").GetInt32());
        Assert.Equal(2, retired.GetProperty("indexes_dropped").GetArrayLength());
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embedding_tasks WHERE model = 'hashing-64'"));
        Assert.Equal(0L, await ScalarAsync<long>("SELECT count(*) FROM pg_indexes WHERE schemaname = '{s}' AND indexname LIKE '%hashing_64%'".Replace("{s}", Schema, StringComparison.Ordinal)));
        Assert.Equal(10L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_384 WHERE model = 'hashing-384'"));
        Assert.Equal(0, again.GetProperty("vectors_deleted").GetInt32());
        Assert.Equal(0, again.GetProperty("indexes_dropped").GetArrayLength());
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown model 'no-such-model'", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelsActivate_RefusedBelowCoverage_ForcedWorks_AndSearchFallsBack()
    {
        await IngestAsync(10);
        await RunAsync("work", "--until-idle");
        Assert.Equal("hashing-384", (await RunAsync("models", "activate", "hashing-384", "--entity-type", "item", "--json")).Json().GetProperty("model").GetString());

        // The new model has embedded nothing yet.
        await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64");
        var refused = await RunAsync("models", "activate", "hashing-64", "--entity-type", "item");
        Assert.Equal(5, refused.ExitCode);
        Assert.Contains("covers 0 of 10", refused.Error, StringComparison.Ordinal);

        // Half of the backfill runs.
        await ExecuteAsync("DELETE FROM {s}.embeddingkit_embedding_tasks WHERE model = 'hashing-64' AND entity_id >= 'd005'");
        (await RunAsync("work", "--model", "hashing-64", "--until-idle")).AssertSucceeded();
        Assert.Equal(5L, await ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));
        Assert.Equal(5, (await RunAsync("enqueue", "--entity-type", "item", "--model", "hashing-64", "--json")).Json().GetProperty("enqueued").GetInt64());

        var low = await RunAsync("models", "activate", "hashing-64", "--entity-type", "item");
        Assert.Equal(5, low.ExitCode);
        Assert.Contains("covers 5 of 10", low.Error, StringComparison.Ordinal);

        var forced = (await RunAsync("models", "activate", "hashing-64", "--entity-type", "item", "--force", "--json")).Json();
        Assert.True(forced.GetProperty("forced").GetBoolean());
        Assert.Equal("hashing-384", forced.GetProperty("previous_model").GetString());
        Assert.Equal(0.5, forced.GetProperty("coverage").GetDouble());

        // The active model covers d000..d004 only and has work outstanding; d009 comes from the previous model.
        var search = (await RunAsync("search", "document number 9 about topic 2 and colour 4", "--entity-type", "item", "--json")).Json();
        Assert.Equal("hashing-64", search.GetProperty("model").GetString());
        Assert.True(search.GetProperty("fallback_used").GetBoolean());
        var d009 = search.GetProperty("hits").EnumerateArray().Single(h => h.GetProperty("id").GetString() == "d009");
        Assert.Equal("fallback-model", d009.GetProperty("path").GetString());
        Assert.Equal("hashing-384", d009.GetProperty("model").GetString());
    }
}
