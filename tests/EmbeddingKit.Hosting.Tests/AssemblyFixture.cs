using EmbeddingKit.TestInfrastructure.Postgres;

[assembly: AssemblyFixture(typeof(PostgresServer))]
