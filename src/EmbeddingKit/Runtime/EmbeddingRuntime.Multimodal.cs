using EmbeddingKit.Embedders;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;
using Microsoft.Extensions.AI;

namespace EmbeddingKit.Runtime;

/// <content>Multimodal tasks: inputs from the host's asset source, then the shared store path.</content>
public sealed partial class EmbeddingRuntime
{
    private async Task HandleMultimodalAsync(EmbeddingModel model, IEmbeddingGenerator<MultimodalInput, Embedding<float>> generator, string entityType, List<EmbeddingTask> tasks, OutcomeBuilder outcome, CancellationToken cancellationToken)
    {
        var ids = tasks.ConvertAll(t => t.EntityId);
        IReadOnlyList<MultimodalInput?> inputs;
        IReadOnlyDictionary<string, StoredEmbeddingState> stored;
        try
        {
            inputs = await _assets!.GetInputsAsync(entityType, ids, cancellationToken).ConfigureAwait(false);
            stored = await _storage.GetStatesAsync(entityType, model.Name, ids, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            outcome.Fail(tasks, TaskFailureKind.Retryable, $"Fetching assets or reading stored state failed: {Describe(e)}");
            return;
        }

        if (inputs.Count != tasks.Count)
        {
            outcome.Fail(tasks, TaskFailureKind.Retryable, $"The asset source returned {inputs.Count} inputs for {tasks.Count} entities.");
            return;
        }

        var gone = new List<EmbeddingTask>();
        var unchanged = new List<EmbeddingTask>();
        var changed = new List<Pending<MultimodalInput>>();
        for (var i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            if (inputs[i] is not { } input)
            {
                gone.Add(task);
                continue;
            }

            var hash = ContentHash.Compute(model, input);
            if (stored.TryGetValue(task.EntityId, out var state) && Unchanged(state, hash, () => ContentHash.Compute(model.Name, input)))
            {
                unchanged.Add(task);
            }
            else
            {
                changed.Add(new Pending<MultimodalInput>(task, input, hash));
            }
        }

        await StoreAsync(model, generator, model.DocumentOptions, gone, unchanged, changed, outcome, cancellationToken).ConfigureAwait(false);
    }
}
