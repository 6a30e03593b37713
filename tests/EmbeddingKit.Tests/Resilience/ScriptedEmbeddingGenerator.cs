using Microsoft.Extensions.AI;

namespace EmbeddingKit.Tests.Resilience;

/// <summary>A hand-written generator whose calls follow a script: each call takes the next step (the last step repeats),
/// which may throw, hang until cancelled, or wait for the test to release it.</summary>
internal sealed class ScriptedEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>>[] _steps;
    private int _calls;
    private int _inFlight;
    private int _maxInFlight;

    public ScriptedEmbeddingGenerator(params Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>>[] steps)
    {
        _steps = steps;
    }

    public int Calls => Volatile.Read(ref _calls);

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public List<IReadOnlyList<string>> Inputs { get; } = [];

    public static Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>> Succeed(long? usage = null) =>
        (_, inputs, _) => Task.FromResult(Result(inputs, usage));

    public static Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>> Throw(Exception exception) =>
        (_, _, _) => Task.FromException<GeneratedEmbeddings<Embedding<float>>>(exception);

    public static Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>> Hang() =>
        async (_, _, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            throw new InvalidOperationException("unreachable");
        };

    public static Func<int, IReadOnlyList<string>, CancellationToken, Task<GeneratedEmbeddings<Embedding<float>>>> WaitFor(Task release) =>
        async (_, inputs, _) =>
        {
            await release;
            return Result(inputs, null);
        };

    public static GeneratedEmbeddings<Embedding<float>> Result(IReadOnlyList<string> inputs, long? usage)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Select(i => new Embedding<float>(new float[] { i.Length, 1 })));
        if (usage is long tokens)
        {
            result.Usage = new UsageDetails { InputTokenCount = tokens };
        }

        return result;
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var inputs = values.ToList();
        int call;
        lock (Inputs)
        {
            Inputs.Add(inputs);
            call = _calls++;
        }

        var now = Interlocked.Increment(ref _inFlight);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen)
        {
        }

        try
        {
            return await _steps[Math.Min(call, _steps.Length - 1)](call, inputs, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
