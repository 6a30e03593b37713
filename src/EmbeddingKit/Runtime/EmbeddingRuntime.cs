using System.Collections.Concurrent;
using System.Diagnostics;
using EmbeddingKit.Diagnostics;
using EmbeddingKit.Embedders;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using EmbeddingKit.Vectors;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EmbeddingKit.Runtime;

/// <summary>
/// Turns embedding tasks into stored vectors: groups a claimed batch by model and entity type, builds documents in
/// batches, skips the provider for unchanged content, embeds the rest in provider-sized batches, L2-normalizes to fp16,
/// and writes in one round trip. One bad item fails only its own task: when a provider rejects a batch for one input,
/// the batch is split until the input is found.
/// </summary>
/// <remarks>It never completes or fails tasks itself: it returns a <see cref="TaskBatchOutcome"/> that
/// <see cref="EmbeddingTaskDrain"/> (or a host's job) applies in one round trip each.</remarks>
public sealed partial class EmbeddingRuntime : IEmbeddingTaskHandler
{
    private readonly EmbeddingModelRegistry _models;
    private readonly IDocumentBuilder _documents;
    private readonly IEmbeddingStorage _storage;
    private readonly IEmbeddingTaskQueue? _queue;
    private readonly IAssetSource? _assets;
    private readonly ILogger _logger;

    /// <summary>Creates the runtime.</summary>
    /// <param name="models">The models this process embeds with; only their tasks are handled.</param>
    /// <param name="documents">The host's document builder.</param>
    /// <param name="storage">Where vectors go.</param>
    /// <param name="queue">The task queue, for <see cref="EnqueueTextEmbeddingAsync"/>; optional.</param>
    /// <param name="logger">A logger; none when null.</param>
    /// <param name="assets">The host's asset source, for multimodal tasks; optional.</param>
    public EmbeddingRuntime(EmbeddingModelRegistry models, IDocumentBuilder documents, IEmbeddingStorage storage, IEmbeddingTaskQueue? queue = null, ILogger<EmbeddingRuntime>? logger = null, IAssetSource? assets = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(storage);
        _models = models;
        _documents = documents;
        _storage = storage;
        _queue = queue;
        _assets = assets;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the model registry.</summary>
    public EmbeddingModelRegistry Registry => _models;

    /// <inheritdoc />
    public IReadOnlyCollection<string> Models => _models.Names;

    /// <summary>Enqueues text embedding of entities for models (default: every model written by default).</summary>
    /// <returns>The number of tasks written.</returns>
    public ValueTask<int> EnqueueTextEmbeddingAsync(string entityType, IEnumerable<string> entityIds, IEnumerable<string>? models = null, short priority = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        ArgumentNullException.ThrowIfNull(entityIds);
        var queue = _queue ?? throw new InvalidOperationException("The runtime was created without a task queue.");
        var modelNames = models?.ToList() ?? [.. _models.WriteModels];
        var requests = new List<EnqueueRequest>();
        foreach (var id in entityIds)
        {
            foreach (var model in modelNames)
            {
                requests.Add(new EnqueueRequest(entityType, id, model) { Priority = priority });
            }
        }

        return queue.EnqueueAsync(requests, cancellationToken);
    }

    /// <summary>The same as <see cref="HandleAsync"/>: embeds and stores what a fetched batch asks for.</summary>
    internal ValueTask<TaskBatchOutcome> GenerateAndStoreEmbeddingAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default) =>
        HandleAsync(tasks, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<TaskBatchOutcome> HandleAsync(IReadOnlyList<EmbeddingTask> tasks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        using var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("embeddingkit.handle_batch");
        activity?.SetTag("embeddingkit.tasks", tasks.Count);
        var started = Stopwatch.GetTimestamp();
        var outcome = new OutcomeBuilder();
        foreach (var group in tasks.GroupBy(t => (t.Model, t.EntityType, t.Kind)))
        {
            if (!_models.TryGet(group.Key.Model, out var model))
            {
                // Not ours: never fail or delete another configuration's work (rolling deploys); give it back.
                outcome.Release(group);
                continue;
            }

            if (group.Key.Kind == EmbeddingTaskKind.Text)
            {
                await HandleTextAsync(model, group.Key.EntityType, [.. group], outcome, cancellationToken).ConfigureAwait(false);
            }
            else if (model.MultimodalGenerator is not null && _assets is not null)
            {
                await HandleMultimodalAsync(model, model.MultimodalGenerator, group.Key.EntityType, [.. group], outcome, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                outcome.Fail(group, TaskFailureKind.Configuration, $"Model '{model.Name}' has no multimodal embedder or asset source in this process; the task needs both.");
            }
        }

        EmbeddingKitDiagnostics.BatchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return outcome.Build();
    }

    private async Task HandleTextAsync(EmbeddingModel model, string entityType, List<EmbeddingTask> tasks, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        var ids = tasks.ConvertAll(t => t.EntityId);
        IReadOnlyDictionary<string, DocumentResult> documents;
        IReadOnlyDictionary<string, StoredEmbeddingState> stored;
        try
        {
            documents = await _documents.BuildAsync(entityType, ids, cancellationToken).ConfigureAwait(false);
            stored = await _storage.GetStatesAsync(entityType, model.Name, ids, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            outcome.Fail(tasks, TaskFailureKind.Retryable, $"Building documents or reading stored state failed: {Describe(e)}");
            return;
        }

        var gone = new List<EmbeddingTask>();
        var unusable = new List<(EmbeddingTask Task, string Problem)>();
        var unchanged = new List<EmbeddingTask>();
        var lexicalMissing = new List<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)>();
        var changed = new List<Pending<string>>();
        var reused = new List<(EmbeddingTask Task, EmbeddingRecord Record)>();
        foreach (var task in tasks)
        {
            if (!documents.TryGetValue(task.EntityId, out var document) || document is null)
            {
                outcome.Fail(task, TaskFailureKind.Permanent, $"The document builder returned nothing for {entityType} '{task.EntityId}' (return DocumentResult.Gone for deleted entities).");
            }
            else if (document.IsGone)
            {
                gone.Add(task);
            }
            else if (Validate(document.Content!) is { } problem)
            {
                unusable.Add((task, problem));
            }
            else
            {
                Plan(model, task, document, stored.GetValueOrDefault(task.EntityId), unchanged, lexicalMissing, changed, reused);
            }
        }

        await RemoveUnusableAsync(model, entityType, unusable, outcome, cancellationToken).ConfigureAwait(false);
        await StoreAsync(model, model.Generator, model.DocumentOptions, gone, unchanged, changed, outcome, cancellationToken, lexicalMissing, reused).ConfigureAwait(false);
    }

    /// <summary>A document that cannot be embedded (edited to empty text, say) fails permanently, and its stored vector —
    /// of content it no longer has — is deleted first (guarded by generation like a gone entity's), so that search stops
    /// finding it.</summary>
    private async Task RemoveUnusableAsync(EmbeddingModel model, string entityType, List<(EmbeddingTask Task, string Problem)> unusable, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        if (unusable.Count == 0)
        {
            return;
        }

        try
        {
            await _storage.DeleteAsync([.. unusable.Select(u => (u.Task.Key, u.Task.Generation))], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStorageFailed(_logger, model.Name, unusable.Count, e);
            outcome.Fail(unusable.Select(u => u.Task), TaskFailureKind.Retryable, $"Storage failed: {Describe(e)}");
            return;
        }

        foreach (var (task, problem) in unusable)
        {
            outcome.Fail(task, TaskFailureKind.Permanent, $"The document of {entityType} '{task.EntityId}' {problem}; its stored vector, if any, was deleted.");
        }
    }

    /// <summary>Deletes the gone, touches the unchanged, embeds the changed (bounded concurrency) and upserts them in one
    /// round trip.</summary>
    private async Task StoreAsync<TInput>(
        EmbeddingModel model, IEmbeddingGenerator<TInput, Embedding<float>> generator, EmbeddingGenerationOptions? options,
        List<EmbeddingTask> gone, List<EmbeddingTask> unchanged, List<Pending<TInput>> changed, OutcomeBuilder outcome, CancellationToken cancellationToken,
        List<(EmbeddingTaskKey Key, long Generation, LexicalDocument Document)>? lexicalMissing = null,
        List<(EmbeddingTask Task, EmbeddingRecord Record)>? reused = null)
    {
        await WriteAsync(gone, "deleted", model, outcome, () => _storage.DeleteAsync([.. gone.Select(t => (t.Key, t.Generation))], cancellationToken)).ConfigureAwait(false);
        await WriteAsync(unchanged, "unchanged", model, outcome, () => TouchAsync(unchanged, lexicalMissing, cancellationToken)).ConfigureAwait(false);
        if (changed.Count == 0 && reused is not { Count: > 0 })
        {
            return;
        }

        var records = new ConcurrentBag<(EmbeddingTask Task, EmbeddingRecord Record)>(reused ?? []);
        var chunks = PlanCalls(model, generator, options, changed);
        await Parallel.ForEachAsync(
            chunks,
            new ParallelOptions { MaxDegreeOfParallelism = model.MaxConcurrentBatches, CancellationToken = cancellationToken },
            async (chunk, ct) => await EmbedAsync(model, generator, options, chunk, records, outcome, ct).ConfigureAwait(false)).ConfigureAwait(false);

        var embedded = records.ToList();
        await WriteEmbeddedAsync(model, embedded, outcome, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Groups the inputs into generator calls once: each call one provider request when the generator plans its
    /// requests (<see cref="IEmbeddingRequestPlanner"/>), else <see cref="EmbeddingModel.BatchSize"/> inputs.</summary>
    private static List<Pending<TInput>[]> PlanCalls<TInput>(
        EmbeddingModel model, IEmbeddingGenerator<TInput, Embedding<float>> generator, EmbeddingGenerationOptions? options, List<Pending<TInput>> changed)
    {
        if (changed is not List<Pending<string>> texts || generator.GetService<IEmbeddingRequestPlanner>() is not { } planner)
        {
            return [.. changed.Chunk(model.BatchSize)];
        }

        var plan = planner.PlanRequests(texts.ConvertAll(p => p.Input), options);
        var calls = new List<Pending<TInput>[]>(plan.Count);
        var next = 0;
        foreach (var range in plan)
        {
            var (offset, length) = range.GetOffsetAndLength(changed.Count);
            if (offset != next || length < 1)
            {
                throw new InvalidOperationException($"The request plan of model '{model.Name}' does not cover its {changed.Count} inputs in order with non-empty ranges (range {range} after input {next}).");
            }

            calls.Add([.. changed.GetRange(offset, length)]);
            next = offset + length;
        }

        return next == changed.Count
            ? calls
            : throw new InvalidOperationException($"The request plan of model '{model.Name}' covers {next} of its {changed.Count} inputs.");
    }

    private async Task WriteAsync(List<EmbeddingTask> tasks, string result, EmbeddingModel model, OutcomeBuilder outcome, Func<ValueTask<int>> write)
    {
        if (tasks.Count == 0)
        {
            return;
        }

        try
        {
            await write().ConfigureAwait(false);
            outcome.Complete(tasks);
            EmbeddingKitDiagnostics.TasksCompleted.Add(tasks.Count, new("model", model.Name), new("outcome", result));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStorageFailed(_logger, model.Name, tasks.Count, e);
            outcome.Fail(tasks, e is ArgumentException or InvalidVectorException ? TaskFailureKind.Permanent : TaskFailureKind.Retryable, $"Storage failed: {Describe(e)}");
        }
    }

    /// <summary>Embeds one provider-sized chunk and isolates what fails: an input the provider names fails alone; a
    /// rejection that names no input is bisected, unless both halves fail with the same error (then the request itself
    /// was rejected, not an input, and the model is paused instead of dead-lettering innocent tasks).</summary>
    private async Task EmbedAsync<TInput>(
        EmbeddingModel model, IEmbeddingGenerator<TInput, Embedding<float>> generator, EmbeddingGenerationOptions? options,
        IReadOnlyList<Pending<TInput>> chunk, ConcurrentBag<(EmbeddingTask, EmbeddingRecord)> records, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        var error = await TryEmbedAsync(model, generator, options, chunk, records, outcome, cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            await IsolateAsync(model, generator, options, chunk, error, records, outcome, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task IsolateAsync<TInput>(
        EmbeddingModel model, IEmbeddingGenerator<TInput, Embedding<float>> generator, EmbeddingGenerationOptions? options,
        IReadOnlyList<Pending<TInput>> chunk, Exception error, ConcurrentBag<(EmbeddingTask, EmbeddingRecord)> records, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        if (error is EmbeddingBadInputException { InputIndex: int index } && index >= 0 && index < chunk.Count)
        {
            outcome.Fail(chunk[index].Task, TaskFailureKind.Permanent, Describe(error));
            var rest = chunk.Where((_, i) => i != index).ToList();
            if (rest.Count > 0)
            {
                await EmbedAsync(model, generator, options, rest, records, outcome, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        if (!ProviderFailure.IsUnlocatedInputError(error))
        {
            var (kind, retryAfter) = ProviderFailure.Classify(error);
            LogProviderFailed(_logger, model.Name, chunk.Count, kind, Describe(error));
            outcome.Fail(chunk.Select(d => d.Task), kind, Describe(error), retryAfter);
            return;
        }

        if (chunk.Count == 1)
        {
            outcome.Fail(chunk[0].Task, TaskFailureKind.Permanent, Describe(error));
            return;
        }

        // The provider rejected the batch without saying which input: try each half. The same error on two disjoint
        // halves is the request being rejected (an unsupported parameter, a model without dimensions), not an input.
        var first = chunk.Take(chunk.Count / 2).ToList();
        var second = chunk.Skip(first.Count).ToList();
        var firstError = await TryEmbedAsync(model, generator, options, first, records, outcome, cancellationToken).ConfigureAwait(false);
        if (firstError is not null && ProviderFailure.IsUnlocatedInputError(firstError) && ProviderFailure.SameError(firstError, error))
        {
            var secondError = await TryEmbedAsync(model, generator, options, second, records, outcome, cancellationToken).ConfigureAwait(false);
            if (secondError is not null && ProviderFailure.IsUnlocatedInputError(secondError) && ProviderFailure.SameError(secondError, error))
            {
                var message = $"The provider rejected the request, not an input (the same error for two disjoint halves of {chunk.Count} inputs); the model is paused until its configuration is fixed. {Describe(error)}";
                LogProviderFailed(_logger, model.Name, chunk.Count, TaskFailureKind.Configuration, message);
                outcome.Fail(chunk.Select(d => d.Task), TaskFailureKind.Configuration, message);
                return;
            }

            await IsolateAsync(model, generator, options, first, firstError, records, outcome, cancellationToken).ConfigureAwait(false);
            if (secondError is not null)
            {
                await IsolateAsync(model, generator, options, second, secondError, records, outcome, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        if (firstError is not null)
        {
            await IsolateAsync(model, generator, options, first, firstError, records, outcome, cancellationToken).ConfigureAwait(false);
        }

        await EmbedAsync(model, generator, options, second, records, outcome, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One generator call: stores what it returns (usable vectors of a partial result too) and returns the
    /// exception, if any, for <see cref="IsolateAsync"/>.</summary>
    private static async Task<Exception?> TryEmbedAsync<TInput>(
        EmbeddingModel model, IEmbeddingGenerator<TInput, Embedding<float>> generator, EmbeddingGenerationOptions? options,
        IReadOnlyList<Pending<TInput>> chunk, ConcurrentBag<(EmbeddingTask, EmbeddingRecord)> records, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        IReadOnlyList<Embedding<float>?> embeddings;
        IReadOnlyDictionary<int, string>? invalid = null;
        var started = Stopwatch.GetTimestamp();
        using (var activity = EmbeddingKitDiagnostics.ActivitySource.StartActivity("embeddingkit.embed"))
        {
            activity?.SetTag("embeddingkit.model", model.Name);
            activity?.SetTag("embeddingkit.inputs", chunk.Count);
            try
            {
                EmbeddingKitDiagnostics.ProviderInputs.Add(chunk.Count, new KeyValuePair<string, object?>("model", model.Name));
                embeddings = await generator.GenerateAsync(chunk.Select(d => d.Input), options, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (EmbeddingPartialResultException e) when (e.Embeddings.Count == chunk.Count)
            {
                embeddings = e.Embeddings;
                invalid = e.InvalidInputs;
            }
            catch (Exception e)
            {
                return e;
            }
            finally
            {
                EmbeddingKitDiagnostics.ProviderDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("model", model.Name));
            }
        }

        Collect(model, chunk, embeddings, invalid, records, outcome);
        return null;
    }

    private static void Collect<TInput>(
        EmbeddingModel model, IReadOnlyList<Pending<TInput>> chunk, IReadOnlyList<Embedding<float>?> embeddings, IReadOnlyDictionary<int, string>? invalid,
        ConcurrentBag<(EmbeddingTask, EmbeddingRecord)> records, OutcomeBuilder outcome)
    {
        if (embeddings.Count != chunk.Count)
        {
            outcome.Fail(chunk.Select(d => d.Task), TaskFailureKind.Retryable, $"Model '{model.Name}' returned {embeddings.Count} embeddings for {chunk.Count} inputs.");
            return;
        }

        for (var i = 0; i < chunk.Count; i++)
        {
            var task = chunk[i].Task;
            if (embeddings[i] is not { } embedding)
            {
                var problem = invalid?.GetValueOrDefault(i) ?? "no vector";
                outcome.Fail(task, TaskFailureKind.Permanent, $"Model '{model.Name}' returned an unusable vector for input {i} ({task.EntityType} '{task.EntityId}'): {problem}.");
                continue;
            }

            var vector = embedding.Vector.Span;
            if (vector.Length != model.Dimensions)
            {
                outcome.Fail(chunk.Skip(i).Select(d => d.Task), TaskFailureKind.Configuration, $"Model '{model.Name}' returned {vector.Length} dimensions; {model.Dimensions} are configured.");
                return;
            }

            var half = new Half[vector.Length];
            try
            {
                VectorMath.NormalizeToHalf(vector, half);
            }
            catch (InvalidVectorException e)
            {
                // The provider's answer for this input: repeating it is not expected to help, and it must not hold up the rest.
                outcome.Fail(task, TaskFailureKind.Permanent, $"Model '{model.Name}' returned an unusable vector for input {i} ({task.EntityType} '{task.EntityId}'): {e.Message}");
                continue;
            }

            var pending = chunk[i];
            records.Add((task, new EmbeddingRecord(task.Key, half, pending.Hash, task.Generation)
            {
                Lexical = pending.Lexical,
                Chunk = pending.Chunk,
                ChunkStart = pending.Start,
                ChunkLength = pending.Length,
                ChunkCount = pending.ChunkCount,
            }));
        }
    }

    /// <summary>Whether the stored vector is for this content: the hash matches, or the row was written by an earlier
    /// version with the text-only hash and the text is the same (its configuration was never recorded, so it is
    /// trusted once rather than re-embedding every existing row on upgrade; its next real change stores the full hash).
    /// An entity stored in chunks is never unchanged as one vector.</summary>
    private static bool Unchanged(StoredEmbeddingState state, byte[] hash, Func<byte[]> legacyHash) =>
        state.Chunks is not { Count: > 1 } && state.Chunks?[0] is not { Start: not null }
        && (state.ContentHash.AsSpan().SequenceEqual(hash) || state.ContentHash.AsSpan().SequenceEqual(legacyHash()));

    private static string? Validate(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "is empty or whitespace only";
        }

        return text.Contains('\0', StringComparison.Ordinal) ? "contains a NUL character" : null;
    }

    private static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Embedding {Count} documents with model {Model} failed ({Kind}): {Error}")]
    private static partial void LogProviderFailed(ILogger logger, string model, int count, TaskFailureKind kind, string error);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Writing {Count} results of model {Model} to storage failed")]
    private static partial void LogStorageFailed(ILogger logger, string model, int count, Exception exception);
}
