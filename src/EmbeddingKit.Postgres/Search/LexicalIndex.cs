using EmbeddingKit.Postgres.Storage;
using Npgsql;

namespace EmbeddingKit.Postgres.Search;

/// <summary>
/// The lexical index of hybrid search in one schema (migration 4): a <c>tsvector</c> per entity, which
/// <see cref="PgvectorEmbeddingStorage"/> keeps fresh beside the vectors when its
/// <see cref="PgvectorEmbeddingStorage.LexicalSchema"/> is set; the text search configuration of each entity type
/// (<c>english</c> unless set); and the fusion settings each entity type's hybrid search uses. Thread-safe; share one.
/// </summary>
public sealed class LexicalIndex
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly Sql _sql;

    /// <summary>Creates the index.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The schema EmbeddingKit's migrations were applied to.</param>
    public LexicalIndex(NpgsqlDataSource dataSource, string schema)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        Statements = new LexicalStatements(schema);
        _sql = new Sql(Statements);
    }

    /// <summary>Gets the schema.</summary>
    public string Schema => Statements.Schema;

    internal LexicalStatements Statements { get; }

    /// <summary>Sets the text search configuration of an entity type (<c>english</c> by default; <c>simple</c> for
    /// identifiers, codes and languages without a stemmer). Documents written before keep their configuration until their
    /// content changes or they are re-embedded; queries use the new one at once.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="configuration">A text search configuration that exists in the database (<c>pg_ts_config</c>).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="ArgumentException">The configuration is not a plain identifier or does not exist.</exception>
    public async ValueTask SetConfigurationAsync(string entityType, string configuration, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        PostgresIdentifier.Validate(configuration, nameof(configuration));
        await using var command = _dataSource.CreateCommand(_sql.SetConfiguration);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = configuration });
        if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
        {
            throw new ArgumentException($"The text search configuration '{configuration}' does not exist in the database.", nameof(configuration));
        }
    }

    /// <summary>Returns the text search configuration of an entity type (<c>english</c> when none was set).</summary>
    public async ValueTask<string> GetConfigurationAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand(_sql.GetConfiguration);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        return (string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Counts the documents of an entity type.</summary>
    public async ValueTask<long> CountAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand(_sql.Count);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Returns the saved fusion settings of an entity type, or null when none were saved.</summary>
    public async ValueTask<HybridSettings?> GetHybridSettingsAsync(string entityType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        await using var command = _dataSource.CreateCommand(_sql.GetHybridSettings);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadHybridSettings(reader, 0) : null;
    }

    /// <summary>Raised in this process after fusion settings are saved, with the schema, so a state cache over that schema
    /// drops what it kept at once (other processes learn it from the notification).</summary>
    internal static event Action<string>? HybridSettingsSaved;

    /// <summary>Reads the seven fusion-settings columns from <paramref name="first"/> on, or null when they are null (none
    /// saved).</summary>
    internal static HybridSettings? ReadHybridSettings(NpgsqlDataReader reader, int first) => reader.IsDBNull(first)
        ? null
        : new HybridSettings(reader.GetInt32(first), reader.GetDouble(first + 1), reader.GetDouble(first + 2), reader.GetInt32(first + 3), reader.GetInt32(first + 4))
        {
            Mrr = reader.IsDBNull(first + 5) ? null : reader.GetDouble(first + 5),
            Fusion = FusionOf(reader.GetString(first + 6)),
        };

    /// <summary>The stored name of a fusion (the column's CHECK lists them).</summary>
    internal static string FusionName(HybridFusion fusion) => fusion switch
    {
        HybridFusion.RelativeScore => "relative_score",
        HybridFusion.ReciprocalRank => "reciprocal_rank",
        _ => throw new ArgumentOutOfRangeException(nameof(fusion), fusion, "Unknown fusion."),
    };

    private static HybridFusion FusionOf(string name) => name switch
    {
        "relative_score" => HybridFusion.RelativeScore,
        "reciprocal_rank" => HybridFusion.ReciprocalRank,
        _ => throw new InvalidOperationException($"The saved fusion '{name}' is not one this version knows."),
    };

    /// <summary>Saves the fusion settings of an entity type. Hybrid search reads them with the entity type's search state,
    /// which caches keep until a change: the save notifies the schema's channel (other processes) and this process's
    /// caches, so the next query uses them.</summary>
    public async ValueTask SaveHybridSettingsAsync(string entityType, HybridSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entityType);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        await using var command = _dataSource.CreateCommand(_sql.SaveHybridSettings);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entityType });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = settings.RrfK });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = settings.VectorWeight });
        command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = settings.LexicalWeight });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = settings.VectorDepth });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = settings.LexicalDepth });
        command.Parameters.Add(new NpgsqlParameter<double?> { TypedValue = settings.Mrr, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Double });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = SearchModelStore.NotificationChannelFor(Schema) });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = FusionName(settings.Fusion) });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        HybridSettingsSaved?.Invoke(Schema);
    }

    /// <summary>The statements, with the schema's tables spliced in once (validated and quoted).</summary>
    private sealed class Sql(LexicalStatements statements)
    {
        public string SetConfiguration => field ??= $"""
            INSERT INTO {statements.Configurations} (entity_type, configuration)
            SELECT $1, cfg.oid::regconfig FROM pg_ts_config cfg WHERE cfg.cfgname = $2 ORDER BY cfg.oid LIMIT 1
            ON CONFLICT (entity_type) DO UPDATE SET configuration = excluded.configuration
            """;

        public string GetConfiguration => field ??= $"SELECT ({statements.ConfigurationOf("$1")})::text";

        public string Count => field ??= $"SELECT count(*) FROM {statements.Documents} WHERE entity_type = $1";

        public string GetHybridSettings => field ??= $"""
            SELECT rrf_k, vector_weight, lexical_weight, vector_depth, lexical_depth, mrr, fusion FROM {statements.HybridSettings} WHERE entity_type = $1
            """;

        public string SaveHybridSettings => field ??= $"""
            INSERT INTO {statements.HybridSettings} (entity_type, rrf_k, vector_weight, lexical_weight, vector_depth, lexical_depth, mrr, fusion)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $9)
            ON CONFLICT (entity_type) DO UPDATE SET
                rrf_k = excluded.rrf_k, vector_weight = excluded.vector_weight, lexical_weight = excluded.lexical_weight,
                vector_depth = excluded.vector_depth, lexical_depth = excluded.lexical_depth, mrr = excluded.mrr,
                fusion = excluded.fusion, tuned_at = now()
            RETURNING pg_notify($8, entity_type)
            """;
    }
}
