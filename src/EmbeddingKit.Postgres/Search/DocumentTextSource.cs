namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// Where the host keeps its documents' text, so that a vector search returns each hit's text (and with it the snippet
/// its chunk span points into) in the same round trip: the search statement joins
/// <c>schema.table</c> on (<see cref="EntityTypeColumn"/>, <see cref="IdColumn"/>) = (entity type, entity id), which
/// should be its primary key. Every identifier is validated and quoted. Value-equal (a statement cache key).
/// </summary>
public sealed record DocumentTextSource
{
    /// <summary>Describes the text column of a documents table.</summary>
    /// <param name="schema">The table's schema.</param>
    /// <param name="table">The table.</param>
    /// <param name="textColumn">The column holding the document's text (what chunk spans point into). Default <c>text</c>.</param>
    /// <param name="idColumn">The column holding the entity id. Default <c>id</c>.</param>
    /// <param name="entityTypeColumn">The column holding the entity type. Default <c>entity_type</c>.</param>
    /// <exception cref="ArgumentException">An identifier is empty, longer than 63 bytes or holds a NUL.</exception>
    public DocumentTextSource(string schema, string table, string textColumn = "text", string idColumn = "id", string entityTypeColumn = "entity_type")
    {
        Schema = PostgresIdentifier.Validate(schema, nameof(schema));
        Table = PostgresIdentifier.Validate(table, nameof(table));
        TextColumn = PostgresIdentifier.Validate(textColumn, nameof(textColumn));
        IdColumn = PostgresIdentifier.Validate(idColumn, nameof(idColumn));
        EntityTypeColumn = PostgresIdentifier.Validate(entityTypeColumn, nameof(entityTypeColumn));
    }

    /// <summary>Gets the schema.</summary>
    public string Schema { get; }

    /// <summary>Gets the table.</summary>
    public string Table { get; }

    /// <summary>Gets the text column.</summary>
    public string TextColumn { get; }

    /// <summary>Gets the entity id column.</summary>
    public string IdColumn { get; }

    /// <summary>Gets the entity type column.</summary>
    public string EntityTypeColumn { get; }

    /// <summary>The join that adds <c>d.text</c> to the rows of <paramref name="rows"/> (with entity_type and entity_id).</summary>
    internal string Join(string rows) =>
        $"LEFT JOIN {PostgresIdentifier.Qualify(Schema, Table)} d ON d.{PostgresIdentifier.Quote(EntityTypeColumn)} = {rows}.entity_type AND d.{PostgresIdentifier.Quote(IdColumn)} = {rows}.entity_id";

    /// <summary>The text column of the join.</summary>
    internal string Column => "d." + PostgresIdentifier.Quote(TextColumn);
}
