// The content plans and items Noctua writes and Voxa refines, in the application's PostgreSQL
// database. Both plugins link this module; the tables are created (idempotently, under an advisory
// lock) the first time either plugin touches the database.
import Foundation
import Logging
import PostgresClient
import Synchronization

/// Payloads and stored JSON use snake_case keys, as the applications that enqueue these jobs write them.
public let snakeCase: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return decoder
}()

public let snakeCaseEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = .sortedKeys
    return encoder
}()

/// Connection settings every content plugin reads from its `config:` block.
public struct DatabaseSettings: Decodable, Sendable {
    /// The application database: `postgres://user:password@host:port/db`.
    public var databaseURL: String

    public init(databaseURL: String) { self.databaseURL = databaseURL }

    /// Every key it takes: a plugin's config check finds a misspelt one among them.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case databaseURL = "database_url"
    }
}

/// The tables, created on first use.
public final class ContentStore: Sendable {
    public let database: PostgresClient
    private let migrated = Mutex(false)

    public init(settings: DatabaseSettings, plugin: String) throws {
        var logger = Logger(label: "jobhost.\(plugin)", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        database = try PostgresClient(url: settings.databaseURL, applicationName: "jobhost \(plugin)", poolSize: 4, logger: logger)
    }

    /// Creates the tables once per process; safe in many processes at once.
    public func prepare() throws {
        if migrated.withLock({ $0 }) { return }
        try database.transaction { transaction in
            // One migrator at a time across every host and worker: CREATE ... IF NOT EXISTS races otherwise.
            _ = try transaction.query("SELECT pg_advisory_xact_lock(hashtext('jobhost content store'))")
            for statement in Self.schema { _ = try transaction.query(statement) }
        }
        migrated.withLock { $0 = true }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS content_plans (
            id               bigserial PRIMARY KEY,
            request_id       text UNIQUE,
            user_id          bigint NOT NULL,
            brand_id         bigint NOT NULL,
            month            text NOT NULL,
            brief            text NOT NULL,
            status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
            error            text,
            weeks            jsonb NOT NULL DEFAULT '{}'::jsonb,
            weekly_plan      jsonb,
            refine_status    text NOT NULL DEFAULT 'idle' CHECK (refine_status IN ('idle', 'refining', 'completed', 'incomplete')),
            refine_job       text,
            refine_started_at timestamptz,
            refine_batches   int NOT NULL DEFAULT 0,
            refine_done      int[] NOT NULL DEFAULT '{}',
            refine_note      text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS content_items (
            id          bigserial PRIMARY KEY,
            plan_id     bigint NOT NULL REFERENCES content_plans (id) ON DELETE CASCADE,
            week        int NOT NULL,
            position    int NOT NULL,
            day         text NOT NULL,
            title       text NOT NULL,
            caption     text NOT NULL,
            channel     text NOT NULL,
            status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'in_progress', 'in_production')),
            script      text,
            hashtags    text[],
            updated_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (plan_id, week, position)
        )
        """,
        "CREATE INDEX IF NOT EXISTS content_items_plan ON content_items (plan_id, status)",
    ]
}
