namespace EmbeddingKit.Onnx;

/// <summary>How a local model runs.</summary>
public sealed class LocalEmbeddingOptions
{
    /// <summary>Gets or sets the inputs per ONNX run. Inputs are sorted by length and each run is padded to its own
    /// longest input. Default <see cref="LocalEmbeddingDefaults.BatchSize"/> (8); 1 to 1,024.</summary>
    public int BatchSize { get; set; } = LocalEmbeddingDefaults.BatchSize;

    /// <summary>Gets or sets the threads one ONNX run uses. Part of the shared session's identity: embedders asking for
    /// other threads get their own session. Default <see cref="LocalEmbeddingDefaults.IntraOpThreads"/> (the processor
    /// count); 1 to 256.</summary>
    public int IntraOpThreads { get; set; } = LocalEmbeddingDefaults.IntraOpThreads;

    /// <summary>Checks the options.</summary>
    /// <exception cref="EmbeddingConfigurationException">A value is out of range.</exception>
    public void Validate()
    {
        if (BatchSize is < 1 or > 1024)
        {
            throw new EmbeddingConfigurationException($"{nameof(BatchSize)} must be between 1 and 1024, not {BatchSize}.");
        }

        if (IntraOpThreads is < 1 or > 256)
        {
            throw new EmbeddingConfigurationException($"{nameof(IntraOpThreads)} must be between 1 and 256, not {IntraOpThreads}.");
        }
    }
}
