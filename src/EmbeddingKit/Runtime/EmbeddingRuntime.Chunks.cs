using EmbeddingKit.Chunking;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Runtime;

/// <content>Chunks as rows: what a document costs (only chunks whose text changed go to the provider) and how a task's
/// rows are written together.</content>
public sealed partial class EmbeddingRuntime
{
    /// <summary>Decides what one document needs. Unchunked (no chunks from the builder, no chunker, or one chunk that is
    /// the whole text): one vector, chunk 0 without a span, as before chunking. Chunked: unchanged when every stored
    /// chunk has the same number, hash and span; otherwise each chunk whose hash is stored under any number is reused
    /// (copied by the storage, no provider input) and only the others are embedded.</summary>
    private static void Plan(
        EmbeddingModel model, EmbeddingTask task, DocumentResult document, StoredEmbeddingState? state, List<EmbeddingTask> unchanged,
        List<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)> lexicalMissing, List<Pending<string>> changed,
        List<(EmbeddingTask Task, EmbeddingRecord Record)> reused)
    {
        var content = document.Content!;
        var lexical = new LexicalDocument(content, document.Title);
        var chunks = ChunksOf(model, document);
        if (chunks is null)
        {
            var hash = ContentHash.Compute(model, document.Title is null ? content : content + "\0title\0" + document.Title);
            if (state is not null && Unchanged(state, hash, () => ContentHash.Compute(model.Name, content)))
            {
                unchanged.Add(task);
                if (state.HasLexical == false)
                {
                    lexicalMissing.Add((task.Key, task.Generation, lexical));
                }
            }
            else
            {
                changed.Add(new Pending<string>(task, model.DocumentPrefix + content, hash) { Lexical = lexical });
            }

            return;
        }

        // The title is part of chunk 0's hash (it is in the lexical document, written with the vectors), not of the
        // others': a new title re-embeds one chunk, not the document.
        var hashes = new byte[chunks.Count][];
        for (var i = 0; i < chunks.Count; i++)
        {
            hashes[i] = ContentHash.Compute(model, i == 0 && document.Title is not null ? chunks[i].Text + "\0title\0" + document.Title : chunks[i].Text);
        }

        var storedChunks = state is null ? [] : state.Chunks ?? [new StoredChunk(0, state.ContentHash, state.Generation, null, null)];
        if (SameChunks(storedChunks, chunks, hashes))
        {
            unchanged.Add(task);
            if (state!.HasLexical == false)
            {
                lexicalMissing.Add((task.Key, task.Generation, lexical));
            }

            return;
        }

        var storedHashes = new HashSet<string>(storedChunks.Select(c => Convert.ToHexString(c.ContentHash)), StringComparer.Ordinal);
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            if (storedHashes.Contains(Convert.ToHexString(hashes[i])))
            {
                reused.Add((task, new EmbeddingRecord(task.Key, ReadOnlyMemory<Half>.Empty, hashes[i], task.Generation)
                {
                    Lexical = i == 0 ? lexical : null,
                    Chunk = i,
                    ChunkStart = chunk.Start,
                    ChunkLength = chunk.Length,
                    ChunkCount = chunks.Count,
                    ReuseStoredVector = true,
                }));
            }
            else
            {
                changed.Add(new Pending<string>(task, model.DocumentPrefix + chunk.Text, hashes[i])
                {
                    Lexical = i == 0 ? lexical : null,
                    Chunk = i,
                    Start = chunk.Start,
                    Length = chunk.Length,
                    ChunkCount = chunks.Count,
                });
            }
        }
    }

    /// <summary>The chunks of a document, or null when it is stored as one unchunked vector.</summary>
    private static IReadOnlyList<TextChunk>? ChunksOf(EmbeddingModel model, DocumentResult document)
    {
        var chunks = document.Chunks;
        if (chunks is null)
        {
            if (model.Chunker is null)
            {
                return null;
            }

            chunks = model.Chunker.Chunk(document.Content!);
            var whole = document.Content!.AsSpan().Trim();
            if (chunks.Count <= 1 && (chunks.Count == 0 || chunks[0].Text.AsSpan().SequenceEqual(whole)))
            {
                // A document that fits is one vector of the whole text, as without a chunker: turning chunking on for a
                // model re-embeds only its long documents.
                return null;
            }
        }

        return chunks;
    }

    private static bool SameChunks(IReadOnlyList<StoredChunk> stored, IReadOnlyList<TextChunk> chunks, byte[][] hashes)
    {
        if (stored.Count != chunks.Count)
        {
            return false;
        }

        for (var i = 0; i < chunks.Count; i++)
        {
            if (stored[i].Chunk != i || stored[i].Start != chunks[i].Start || stored[i].Length != chunks[i].Length
                || !stored[i].ContentHash.AsSpan().SequenceEqual(hashes[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Upserts the new vectors: every chunk of a task together (a task one of whose chunks failed writes
    /// nothing), with the chunks beyond its new count deleted in the same write. A storage that reports fewer rows than
    /// asked (a stale task refused by the generation or queue guard, a reused vector gone, or a custom storage that
    /// dropped rows) completes only the tasks whose chunks it reads back at their generation and content; the others fail
    /// as retryable — the queue reruns a superseded one at once and ignores one whose lease is gone — so that no task
    /// completes without its vectors.</summary>
    private async Task WriteEmbeddedAsync(EmbeddingModel model, List<(EmbeddingTask Task, EmbeddingRecord Record)> embedded, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        var whole = new List<(EmbeddingTask Task, List<EmbeddingRecord> Records)>();
        foreach (var group in embedded.GroupBy(r => r.Task))
        {
            if (outcome.HasFailed(group.Key))
            {
                continue;
            }

            var records = group.Select(r => r.Record).OrderBy(r => r.Chunk).ToList();
            if (records.Count != (records[0].ChunkCount ?? 1))
            {
                outcome.Fail(group.Key, TaskFailureKind.Retryable, $"{records.Count} of {records[0].ChunkCount} chunks of {group.Key.EntityType} '{group.Key.EntityId}' were embedded.");
                continue;
            }

            whole.Add((group.Key, records));
        }

        if (whole.Count == 0)
        {
            return;
        }

        var tasks = whole.ConvertAll(w => w.Task);
        var all = whole.SelectMany(w => w.Records).ToList();
        int written;
        IReadOnlyDictionary<string, StoredEmbeddingState>? stored = null;
        try
        {
            written = await _storage.UpsertAsync(all, cancellationToken).ConfigureAwait(false);
            if (written < all.Count)
            {
                stored = await _storage.GetStatesAsync(tasks[0].EntityType, model.Name, tasks.ConvertAll(t => t.EntityId), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStorageFailed(_logger, model.Name, tasks.Count, e);
            outcome.Fail(tasks, e is ArgumentException or InvalidVectorException ? TaskFailureKind.Permanent : TaskFailureKind.Retryable, $"Storage failed: {Describe(e)}");
            return;
        }

        if (stored is null)
        {
            outcome.Complete(tasks);
            EmbeddingKitDiagnostics.TasksCompleted.Add(tasks.Count, new("model", model.Name), new("outcome", "embedded"));
            return;
        }

        var done = new List<EmbeddingTask>(whole.Count);
        foreach (var (task, records) in whole)
        {
            if (stored.TryGetValue(task.EntityId, out var state) && Stored(state, task.Generation, records))
            {
                done.Add(task);
            }
            else
            {
                outcome.Fail(task, TaskFailureKind.Retryable, $"Storage wrote {written} of {all.Count} vectors and not those of {task.EntityType} '{task.EntityId}' for model '{model.Name}' (its task was superseded, cancelled or retired, a reused vector was gone, or the storage dropped it).");
            }
        }

        outcome.Complete(done);
        EmbeddingKitDiagnostics.TasksCompleted.Add(done.Count, new("model", model.Name), new("outcome", "embedded"));
    }

    /// <summary>Whether the storage holds exactly these records at this generation.</summary>
    private static bool Stored(StoredEmbeddingState state, long generation, List<EmbeddingRecord> records)
    {
        var chunks = state.Chunks ?? [new StoredChunk(0, state.ContentHash, state.Generation, null, null)];
        if (chunks.Count != records.Count)
        {
            return false;
        }

        for (var i = 0; i < records.Count; i++)
        {
            if (chunks[i].Chunk != records[i].Chunk || chunks[i].Generation != generation || !chunks[i].ContentHash.AsSpan().SequenceEqual(records[i].ContentHash))
            {
                return false;
            }
        }

        return true;
    }
}
