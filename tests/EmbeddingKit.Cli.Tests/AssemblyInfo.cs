using EmbeddingKit.TestInfrastructure.Postgres;

[assembly: AssemblyFixture(typeof(PostgresServer))]

// The commands run in-process and write to the process-wide Console.Out and Console.Error: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
