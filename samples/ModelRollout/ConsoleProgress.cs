namespace ModelRollout;

/// <summary>A synchronous <see cref="IProgress{T}"/> (unlike <see cref="Progress{T}"/>, it reports in order, on the caller's thread).</summary>
public sealed class ConsoleProgress(Action<long> report) : IProgress<long>
{
    public void Report(long value) => report(value);
}
