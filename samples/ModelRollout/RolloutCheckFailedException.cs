namespace ModelRollout;

/// <summary>A step of the rollout did not do what it claims.</summary>
public sealed class RolloutCheckFailedException : Exception
{
    public RolloutCheckFailedException()
    {
    }

    public RolloutCheckFailedException(string message)
        : base(message)
    {
    }

    public RolloutCheckFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
