namespace EmbeddingKit.Tasks;

/// <summary>The failure of one claimed task.</summary>
/// <param name="Task">The task as it was claimed.</param>
/// <param name="Kind">What kind of failure it is.</param>
/// <param name="Error">A message for operators; stored with the task. Never contains secrets.</param>
/// <param name="RetryAfter">For <see cref="TaskFailureKind.RateLimited"/> and <see cref="TaskFailureKind.Configuration"/>:
/// how long to wait, when known.</param>
public sealed record TaskFailure(EmbeddingTask Task, TaskFailureKind Kind, string Error, TimeSpan? RetryAfter = null);
