using EmbeddingKit.Cli;

return await CliApplication.RunAsync(args);
