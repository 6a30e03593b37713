namespace EmbeddingKit.Postgres.Tasks;

/// <summary>
/// The task tables' qualified names (the schema validated and quoted). Only the Tasks folder writes SQL against them;
/// the one exception is the storage's write guard, which takes its table name from here.
/// </summary>
internal readonly record struct TaskTables
{
    public TaskTables(string schema)
    {
        var quoted = PostgresIdentifier.Quote(schema, nameof(schema));
        Tasks = quoted + ".embeddingkit_embedding_tasks";
        Dead = quoted + ".embeddingkit_embedding_tasks_dead";
        Pauses = quoted + ".embeddingkit_model_pauses";
    }

    /// <summary>Gets the outstanding tasks' table.</summary>
    public string Tasks { get; }

    /// <summary>Gets the dead tasks' table.</summary>
    public string Dead { get; }

    /// <summary>Gets the model pauses' table.</summary>
    public string Pauses { get; }
}
