namespace EmbeddingKit.Cli.Infrastructure;

/// <summary>What ingesting one file did: distinct documents read, new or changed ones, tasks enqueued.</summary>
internal sealed record IngestFileResult(string File, int Documents, int Changed, int Enqueued);
