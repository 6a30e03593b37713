using BenchmarkDotNet.Running;

// Usage: dotnet run -c Release --project bench/EmbeddingKit.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(EmbeddingKit.Benchmarks.DecodeBenchmarks).Assembly).Run(args);
