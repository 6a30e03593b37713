using EmbeddingKit.TestInfrastructure.Postgres;

[assembly: AssemblyFixture(typeof(PostgresServer))]

// The chaos tests run several worker processes on two cores: one test at a time keeps the figures meaningful and the
// run bounded.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
