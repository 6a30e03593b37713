using EmbeddingKit.Diagnostics;
using EmbeddingKit.Storage;
using EmbeddingKit.Tasks;

namespace EmbeddingKit.Runtime;

/// <content>What a batch's handling collects: the pending inputs and the per-task outcome.</content>
public sealed partial class EmbeddingRuntime
{
    private sealed record Pending<TInput>(EmbeddingTask Task, TInput Input, byte[] Hash)
    {
        /// <summary>The entity's lexical document, written with the vector by a storage that keeps a lexical index.</summary>
        public LexicalDocument? Lexical { get; init; }
    }

    /// <summary>Collects per-task results from concurrent provider calls.</summary>
    private sealed class OutcomeBuilder
    {
        private readonly Lock _gate = new();
        private readonly List<EmbeddingTask> _completed = [];
        private readonly List<TaskFailure> _failed = [];
        private readonly List<EmbeddingTask> _released = [];

        public void Complete(IEnumerable<EmbeddingTask> tasks)
        {
            lock (_gate)
            {
                _completed.AddRange(tasks);
            }
        }

        public void Release(IEnumerable<EmbeddingTask> tasks)
        {
            lock (_gate)
            {
                _released.AddRange(tasks);
            }
        }

        public void Fail(EmbeddingTask task, TaskFailureKind kind, string error, TimeSpan? retryAfter = null) => Fail([task], kind, error, retryAfter);

        public void Fail(IEnumerable<EmbeddingTask> tasks, TaskFailureKind kind, string error, TimeSpan? retryAfter = null)
        {
            lock (_gate)
            {
                foreach (var task in tasks)
                {
                    _failed.Add(new TaskFailure(task, kind, error, retryAfter));
                    EmbeddingKitDiagnostics.TasksFailed.Add(1, new("model", task.Model), new("kind", kind.ToString()));
                }
            }
        }

        public TaskBatchOutcome Build()
        {
            lock (_gate)
            {
                return new TaskBatchOutcome([.. _completed], [.. _failed]) { Released = [.. _released] };
            }
        }
    }
}
