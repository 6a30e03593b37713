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

        /// <summary>The chunk's number (0 for an entity that is not chunked).</summary>
        public int Chunk { get; init; }

        /// <summary>The chunk's span in the document; null for an entity that is not chunked.</summary>
        public int? Start { get; init; }

        /// <summary>The length of the chunk's span, or null.</summary>
        public int? Length { get; init; }

        /// <summary>The entity's number of chunks (1 for an entity that is not chunked).</summary>
        public int ChunkCount { get; init; } = 1;
    }

    /// <summary>Collects per-task results from concurrent provider calls.</summary>
    private sealed class OutcomeBuilder
    {
        private readonly Lock _gate = new();
        private readonly List<EmbeddingTask> _completed = [];
        private readonly List<TaskFailure> _failed = [];
        private readonly List<EmbeddingTask> _released = [];
        private readonly HashSet<EmbeddingTask> _failedTasks = [];

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
                    // The chunks of one task fail one by one: the task fails once, with the first error.
                    if (!_failedTasks.Add(task))
                    {
                        continue;
                    }

                    _failed.Add(new TaskFailure(task, kind, error, retryAfter));
                    EmbeddingKitDiagnostics.TasksFailed.Add(1, new("model", task.Model), new("kind", kind.ToString()));
                }
            }
        }

        public bool HasFailed(EmbeddingTask task)
        {
            lock (_gate)
            {
                return _failedTasks.Contains(task);
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
