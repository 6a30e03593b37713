namespace EmbeddingKit.Tasks;

/// <summary>Why a task failed, which decides what happens to it next.</summary>
public enum TaskFailureKind
{
    /// <summary>May succeed later (provider 5xx, timeout, network). Backs off exponentially with jitter; dead after the
    /// last attempt.</summary>
    Retryable = 0,

    /// <summary>The provider is rate limiting. Deferred by its <c>Retry-After</c>; uses no attempt.</summary>
    RateLimited = 1,

    /// <summary>The provider refused the model's configuration (bad key, unknown model). The model is paused; the task
    /// keeps its attempts.</summary>
    Configuration = 2,

    /// <summary>Cannot succeed (bad input, invalid document). Dead at once, with its error.</summary>
    Permanent = 3,
}
