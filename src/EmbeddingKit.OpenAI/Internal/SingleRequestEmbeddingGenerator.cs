using Microsoft.Extensions.AI;

namespace EmbeddingKit.OpenAI.Internal;

/// <summary>
/// The innermost generator of the text client: one call is one HTTP attempt for inputs that the client has already
/// checked and planned into one request. Retries, waits and the concurrency limit are the middleware around it; the
/// request's offset in the caller's list, model and fields travel in <see cref="RequestOptions"/>.
/// </summary>
internal sealed class SingleRequestEmbeddingGenerator(EmbeddingTransport transport) : IEmbeddingGenerator<string, Embedding<float>>
{
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = (RequestOptions)options!;
        var attempt = Interlocked.Increment(ref request.Attempts);
        var inputs = request.Inputs;
        var vectors = new float[]?[inputs.Count];
        using var body = new PooledByteBufferWriter(EstimateBodySize(inputs));
        EmbeddingRequestWriter.WriteText(body, transport.Options, request.Model, request.RequestDimensions, request.Extra, inputs.AsSpan());
        try
        {
            var parsed = await transport.SendOnceAsync(body.WrittenMemory, vectors, inputs.Offset, request.Model, request.RequestDimensions, attempt, cancellationToken)
                .ConfigureAwait(false);
            request.Usage.Add(parsed);
        }
        catch (EmbeddingProviderException ex)
        {
            request.LastError = ex;
            if (!ex.IsTransient)
            {
                // Cancel the sibling requests here, while this request still holds its concurrency slot: a sibling
                // waiting for the slot must not be sent in the moment between its release and the caller's cancel.
                request.Siblings?.Cancel();
            }

            throw;
        }

        var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Length);
        foreach (var vector in vectors)
        {
            result.Add(new Embedding<float>(vector!));
        }

        return result;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    private static int EstimateBodySize(ArraySegment<string> inputs)
    {
        long size = 256;
        foreach (var input in inputs)
        {
            size += input.Length + 4;
        }

        return (int)Math.Min(size + (size / 8), 64 * 1024 * 1024);
    }

    /// <summary>One planned request: its inputs (a segment of the caller's list), model, fields, and what its attempts
    /// leave behind (usage, last provider error).</summary>
    internal sealed class RequestOptions : EmbeddingGenerationOptions
    {
        public RequestOptions(ArraySegment<string> inputs, string model, int? dimensions, AdditionalPropertiesDictionary? extra, UsageTotals usage)
        {
            Inputs = inputs;
            Model = model;
            RequestDimensions = dimensions;
            Extra = extra;
            Usage = usage;
        }

        public ArraySegment<string> Inputs { get; }

        public string Model { get; }

        public int? RequestDimensions { get; }

        public AdditionalPropertiesDictionary? Extra { get; }

        public UsageTotals Usage { get; }

        public EmbeddingProviderException? LastError { get; set; }

        /// <summary>Gets the source that cancels the other requests of the same call when this one fails for good.</summary>
        public CancellationTokenSource? Siblings { get; init; }

#pragma warning disable SA1401, CA1051 // Fields: incremented with Interlocked.
        public int Attempts;
#pragma warning restore SA1401, CA1051
    }
}
