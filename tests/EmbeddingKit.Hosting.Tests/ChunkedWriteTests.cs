using System.Globalization;
using System.Text;
using EmbeddingKit.Chunking;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Storage;
using EmbeddingKit.Runtime;
using EmbeddingKit.Tasks;
using EmbeddingKit.TestInfrastructure.Postgres;
using Microsoft.Extensions.DependencyInjection;

namespace EmbeddingKit.Hosting.Tests;

/// <summary>Chunks as rows end to end (issue 16): the runtime chunks long documents with the model's chunker, writes one
/// row per chunk, re-embeds only chunks whose text changed, renumbers moved chunks without the provider, deletes chunks
/// that disappeared, and keeps the queue's stale-worker guards; against the real PostgreSQL and the fake provider.</summary>
public sealed class ChunkedWriteTests(PostgresServer server)
{
    private const string Long = "long";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A token per whitespace-separated word: paragraphs of 30 words in chunks of at most 40 tokens without
    /// overlap make one chunk per paragraph.</summary>
    private sealed class WordCounter : ITokenCounter
    {
        public int CountTokens(ReadOnlySpan<char> text)
        {
            var count = 0;
            var inWord = false;
            foreach (var c in text)
            {
                var space = char.IsWhiteSpace(c);
                count += !space && !inWord ? 1 : 0;
                inWord = !space;
            }

            return count;
        }
    }

    private Task<EmbeddingStack> ChunkingStackAsync() => EmbeddingStack.CreateAsync(
        server,
        provider => [EmbeddingStack.Model(provider, "model-a", 64, new TextChunker(new WordCounter(), new TextChunkerOptions { MaxTokens = 40, OverlapTokens = 0 }))],
        Ct);

    private static List<string> Paragraphs(int count, int offset = 0) =>
        [.. Enumerable.Range(offset, count).Select(Paragraph)];

    private static string Paragraph(int i)
    {
        var words = new StringBuilder();
        words.Append(CultureInfo.InvariantCulture, $"Paragraph {i} says");
        for (var w = 0; w < 27; w++)
        {
            words.Append(CultureInfo.InvariantCulture, $" w{(i * 31) + w}");
        }

        return words.Append('.').ToString();
    }

    private static string Document(IEnumerable<string> paragraphs) => string.Join("\n\n", paragraphs);

    private static async Task<List<(int Chunk, DateTime UpdatedAt, int? Start, int? Length, long Generation)>> RowsAsync(EmbeddingStack stack, string id)
    {
        await using var command = stack.DataSource.CreateCommand(
            $"SELECT chunk, updated_at, chunk_start, chunk_length, generation FROM \"{stack.Schema}\".embeddingkit_embeddings_64 WHERE entity_id = $1 ORDER BY chunk");
        command.Parameters.AddWithValue(id);
        var rows = new List<(int, DateTime, int?, int?, long)>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            rows.Add((reader.GetInt32(0), reader.GetDateTime(1), reader.IsDBNull(2) ? null : reader.GetInt32(2), reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.GetInt64(4)));
        }

        return rows;
    }

    private static async Task<long> IngestAsync(EmbeddingStack stack, params string[] ids)
    {
        var before = stack.Provider.InputCount;
        await stack.Runtime.EnqueueTextEmbeddingAsync(EmbeddingStack.EntityType, ids, cancellationToken: Ct);
        await stack.DrainAsync(Ct);
        return stack.Provider.InputCount - before;
    }

    private static void AssertSpans(string text, List<string> paragraphs, List<(int Chunk, DateTime UpdatedAt, int? Start, int? Length, long Generation)> rows)
    {
        Assert.Equal(paragraphs.Count, rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            Assert.Equal(i, rows[i].Chunk);
            Assert.Equal(paragraphs[i], text.Substring(rows[i].Start!.Value, rows[i].Length!.Value));
        }
    }

    [Fact]
    public async Task HandleAsync_OneParagraphOfTwentyChunksEdited_EmbedsOneInputAndRewritesOneRow()
    {
        await using var stack = await ChunkingStackAsync();
        var paragraphs = Paragraphs(20);
        stack.Documents.Texts[Long] = Document(paragraphs);

        Assert.Equal(20, await IngestAsync(stack, Long));
        var before = await RowsAsync(stack, Long);
        AssertSpans(stack.Documents.Texts[Long], paragraphs, before);

        // One word of paragraph 7 becomes two: its chunk changes, and every later chunk's span moves.
        paragraphs[7] = paragraphs[7].Replace("says", "now says", StringComparison.Ordinal);
        stack.Documents.Texts[Long] = Document(paragraphs);
        Assert.Equal(1, await IngestAsync(stack, Long));

        var after = await RowsAsync(stack, Long);
        AssertSpans(stack.Documents.Texts[Long], paragraphs, after);
        var rewritten = after.Where((row, i) => row.UpdatedAt != before[i].UpdatedAt).Select(row => row.Chunk).ToList();
        Assert.Equal([7], rewritten);
        Assert.All(after, row => Assert.Equal(after[0].Generation, row.Generation));

        // Unchanged re-ingest: nothing goes to the provider, no vector is rewritten.
        Assert.Equal(0, await IngestAsync(stack, Long));
        Assert.Equal(after.Select(r => r.UpdatedAt), (await RowsAsync(stack, Long)).Select(r => r.UpdatedAt));
    }

    [Fact]
    public async Task HandleAsync_DocumentGrowsAtStartThenShrinks_RenumbersWithoutReembedding()
    {
        await using var stack = await ChunkingStackAsync();
        var paragraphs = Paragraphs(10, offset: 1);
        stack.Documents.Texts[Long] = Document(paragraphs);
        Assert.Equal(10, await IngestAsync(stack, Long));

        // A new first paragraph: every chunk moves one number up, and only the new one is embedded.
        paragraphs.Insert(0, Paragraph(0));
        stack.Documents.Texts[Long] = Document(paragraphs);
        Assert.Equal(1, await IngestAsync(stack, Long));
        AssertSpans(stack.Documents.Texts[Long], paragraphs, await RowsAsync(stack, Long));

        // Five paragraphs gone (two from the middle, three from the end): no provider input, the rows beyond go.
        paragraphs.RemoveRange(3, 2);
        paragraphs.RemoveRange(paragraphs.Count - 3, 3);
        stack.Documents.Texts[Long] = Document(paragraphs);
        Assert.Equal(0, await IngestAsync(stack, Long));
        AssertSpans(stack.Documents.Texts[Long], paragraphs, await RowsAsync(stack, Long));

        // The vectors moved with their text: the row nearest to each paragraph's own vector is its chunk.
        var embedder = new QueryEmbedder(stack.Registry);
        for (var i = 0; i < paragraphs.Count; i++)
        {
            var vector = await embedder.EmbedAsync("model-a", paragraphs[i], Ct);
            await using var nearest = stack.DataSource.CreateCommand(
                $"SELECT chunk FROM \"{stack.Schema}\".embeddingkit_embeddings_64 WHERE entity_id = $1 ORDER BY embedding <#> $2 LIMIT 1");
            nearest.Parameters.AddWithValue(Long);
            nearest.Parameters.AddWithValue(new Pgvector.HalfVector(vector));
            Assert.Equal(i, (int)(await nearest.ExecuteScalarAsync(Ct))!);
        }
    }

    [Fact]
    public async Task HandleAsync_ChunkedEntityGone_DeletesEveryChunk()
    {
        await using var stack = await ChunkingStackAsync();
        stack.Documents.Texts[Long] = Document(Paragraphs(6));
        stack.Documents.Texts["short"] = "A short note about vectors";
        await IngestAsync(stack, Long, "short");
        Assert.Equal(7L, await stack.ScalarAsync<long>("SELECT count(*) FROM {s}.embeddingkit_embeddings_64"));

        stack.Documents.Texts.TryRemove(Long, out _);
        await IngestAsync(stack, Long);

        Assert.Empty(await RowsAsync(stack, Long));
        Assert.Single(await RowsAsync(stack, "short"));
    }

    [Fact]
    public async Task HandleAsync_ChunkedAndUnchunkedEntities_LiveSideBySideInOneTable()
    {
        await using var stack = await ChunkingStackAsync();
        stack.Documents.Texts[Long] = Document(Paragraphs(5));
        stack.Documents.Texts["short"] = "A short note about vectors";
        stack.Documents.Results["host"] = DocumentResult.Chunked(["Host chunk one about queues", "Host chunk two about leases"]);

        Assert.Equal(8, await IngestAsync(stack, Long, "short", "host"));

        var single = Assert.Single(await RowsAsync(stack, "short"));
        Assert.Equal((0, (int?)null, (int?)null), (single.Chunk, single.Start, single.Length));
        Assert.Equal(5, (await RowsAsync(stack, Long)).Count);
        Assert.Equal([0, 1], (await RowsAsync(stack, "host")).Select(r => r.Chunk));
        Assert.Equal(3L, await stack.Storage.CountAsync(EmbeddingStack.EntityType, "model-a", Ct));

        // The long document shrinks to one that fits one chunk: it becomes one unchunked vector again.
        stack.Documents.Texts[Long] = "Now short";
        Assert.Equal(1, await IngestAsync(stack, Long));
        var shrunk = Assert.Single(await RowsAsync(stack, Long));
        Assert.Null(shrunk.Start);
        Assert.Equal(0, await IngestAsync(stack, Long, "short", "host"));
    }

    [Fact]
    public async Task HandleAsync_StaleWorkerWithShorterDocument_NeitherWritesNorDeletesNewerChunks()
    {
        await using var stack = await ChunkingStackAsync();
        stack.Documents.Texts[Long] = Document(Paragraphs(8));
        await IngestAsync(stack, Long);

        // A worker claims the task of a shorter version, then stalls while the entity changes again (a newer generation).
        await stack.Runtime.EnqueueTextEmbeddingAsync(EmbeddingStack.EntityType, [Long], cancellationToken: Ct);
        var stale = await stack.Queue.FetchReadyAsync(new FetchRequest(["model-a"], 10, "stale", TimeSpan.FromMinutes(10)), Ct);
        stack.Documents.Texts[Long] = Document(Paragraphs(3));
        await stack.Runtime.EnqueueTextEmbeddingAsync(EmbeddingStack.EntityType, [Long], cancellationToken: Ct);
        var rowsBefore = await RowsAsync(stack, Long);

        var outcome = await stack.Runtime.HandleAsync(stale, Ct);

        Assert.Empty(outcome.Completed);
        Assert.Equal(TaskFailureKind.Retryable, Assert.Single(outcome.Failed).Kind);
        Assert.Equal(rowsBefore, await RowsAsync(stack, Long));
    }

    [Theory]
    [InlineData(SearchPath.TwoStage)]
    [InlineData(SearchPath.Hnsw)]
    [InlineData(SearchPath.Exact)]
    [InlineData(SearchPath.Hybrid)]
    public async Task SearchAsync_ChunkedAndUnchunkedEntities_RanksEntitiesOnceWithTheBestChunksSpan(SearchPath path)
    {
        await using var stack = await ChunkingStackAsync();
        for (var d = 0; d < 6; d++)
        {
            stack.Documents.Texts["d" + d.ToString(CultureInfo.InvariantCulture)] = Document(Paragraphs(5, offset: d * 5));
        }

        stack.Documents.Texts["s0"] = "A short note about vectors";
        stack.Documents.Texts["s1"] = "Another short note about queues";
        await IngestAsync(stack, [.. stack.Documents.Texts.Keys]);
        var query = Paragraph(17); // d3's chunk 2

        var result = await stack.Search.SearchAsync(query, EmbeddingStack.EntityType, 10, path: path, cancellationToken: Ct);

        var best = result.Hits[0];
        Assert.Equal("d3", best.EntityId);
        Assert.Equal(2, best.Chunk);
        Assert.Equal(query, stack.Documents.Texts["d3"].Substring(best.SnippetStart!.Value, best.SnippetLength!.Value));
        Assert.Equal(result.Hits.Count, result.Hits.Select(h => h.EntityId).Distinct().Count());
        Assert.Equal(8, result.Hits.Count);
        var shortHit = result.Hits.Single(h => h.EntityId == "s0");
        Assert.Equal((0, (int?)null), (shortHit.Chunk, shortHit.SnippetStart));

        var filtered = await stack.Search.SearchAsync(query, EmbeddingStack.EntityType, 10, path: path, entityIds: ["d1", "s1"], cancellationToken: Ct);
        Assert.Equal(["d1", "s1"], filtered.Hits.Select(h => h.EntityId).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(SearchPath.TwoStage, "_bq_")]
    [InlineData(SearchPath.Hnsw, "_hnsw_")]
    public async Task ExplainAsync_GroupedByEntity_StillUsesTheModelsIndex(SearchPath path, string index)
    {
        await using var stack = await ChunkingStackAsync();
        stack.Documents.Texts[Long] = Document(Paragraphs(20));
        await IngestAsync(stack, Long);
        var search = stack.Services.GetRequiredService<PgvectorSearch>();
        var vector = await new QueryEmbedder(stack.Registry).EmbedAsync("model-a", "paragraph", Ct);
        await using var connection = await stack.DataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using (var off = new Npgsql.NpgsqlCommand("SET LOCAL enable_seqscan = off", connection, transaction))
        {
            await off.ExecuteNonQueryAsync(Ct);
        }

        var plan = await search.ExplainAsync(new EmbeddingTable(stack.Schema, 64), "model-a", vector, new VectorSearchOptions { Path = path }, transaction, Ct);

        Assert.Contains(index, plan, StringComparison.Ordinal);
        Assert.Contains("Index Scan", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchAsync_DocumentTexts_HitsCarryTheirDocumentAndSnippetSpan()
    {
        await using var stack = await ChunkingStackAsync();
        var text = Document(Paragraphs(6));
        stack.Documents.Texts[Long] = text;
        await IngestAsync(stack, Long);
        await using (var create = stack.DataSource.CreateCommand($"CREATE TABLE \"{stack.Schema}\".host_docs (kind text, key text, body text, PRIMARY KEY (kind, key))"))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await using (var insert = stack.DataSource.CreateCommand($"INSERT INTO \"{stack.Schema}\".host_docs VALUES ($1, $2, $3)"))
        {
            insert.Parameters.AddWithValue(EmbeddingStack.EntityType);
            insert.Parameters.AddWithValue(Long);
            insert.Parameters.AddWithValue(text);
            await insert.ExecuteNonQueryAsync(Ct);
        }

        var service = new EmbeddingSearchService(
            new QueryEmbedder(stack.Registry), stack.Services.GetRequiredService<PgvectorSearch>(), stack.Services.GetRequiredService<SearchModelStore>(), stack.Storage)
        {
            DocumentTexts = new DocumentTextSource(stack.Schema, "host_docs", textColumn: "body", idColumn: "key", entityTypeColumn: "kind"),
        };

        var hit = Assert.Single((await service.SearchAsync(Paragraph(4), EmbeddingStack.EntityType, 1, path: SearchPath.Exact, cancellationToken: Ct)).Hits);

        Assert.Equal(text, hit.Text);
        Assert.Equal(Paragraph(4), hit.Text!.Substring(hit.SnippetStart!.Value, hit.SnippetLength!.Value));
        var fused = Assert.Single((await service.SearchAsync(Paragraph(4), EmbeddingStack.EntityType, 1, path: SearchPath.Hybrid, cancellationToken: Ct)).Hits);
        var lexical = Assert.Single((await service.SearchAsync(Paragraph(4), EmbeddingStack.EntityType, 1, path: SearchPath.Lexical, cancellationToken: Ct)).Hits);
        Assert.Equal((text, text), (fused.Text, lexical.Text));
        Assert.Throws<ArgumentException>(() => new DocumentTextSource(stack.Schema, "docs", textColumn: "bad\0column"));
    }
}
