// company-context: the AI rewrites a company's context text; the company's own words are never lost.
//
// company_context.process {company_id, text} keeps one row per company in `company_contexts`:
// `original` is the text the application sent, `context` is what the application should use — the
// rewrite once there is one, the original until then and for good when the rewrite fails.
//
// The original is stored before the AI is called, so a failing or slow AI never loses it. When the
// AI keeps failing, the last attempt (or an error no retry mends, such as a refused request) marks
// the row `failed` with the error and the number of AI calls, and leaves `original` and `context`
// exactly as they were; the job is discarded with a reason naming the company.
//
// What a submission means for a company that has a row already (jobs run at least once, and
// applications send the same text again):
//   - the same text, already rewritten: nothing to do — the rewrite is of this very text, and a
//     re-run of a finished job must not pay for another AI call;
//   - the same text, pending: a re-run of a job that died mid-way, or a duplicate; the rewrite goes on;
//   - the same text, failed: the application (or an operator retrying the dead job) asks again;
//     the row goes back to pending with `attempts` at 0 (it counts the AI calls of the current
//     try) and the rewrite is tried afresh; the last error stays until a rewrite succeeds;
//   - a different text: the company's words changed. `original` and `context` both become the new
//     text (a rewrite of the old words would be stale), `attempts` starts again at 0, and the new
//     text is rewritten — unless the row already holds a text submitted after this job was
//     enqueued: then this job is stale (an old job retried late) and leaves the newer text alone.
// Every write after the AI call is conditional on `original` still being the text that was
// rewritten, so a rewrite that finishes after a newer submission never lands on the newer text.
//
// Config (the plugin's `config:` block): `database_url`, and the `ai_*` keys of AIConfiguration.
// `ai_timeout_seconds` defaults to 45 here, under the handler's 60 s timeout, so an AI call that
// hangs ends as a retryable error of the handler rather than as a killed job.
import AIClient
import Foundation
import Logging
import PluginKit
import PostgresClient
import Synchronization

/// The host's services to a job (Foundation has a `Host` too).
typealias Host = PluginKit.Host

/// The plugin's own keys; the ai_* keys are AIConfiguration's (ai_timeout_seconds is read here too,
/// only to tell whether the config sets it).
struct Settings: Decodable {
    var databaseURL: String
    var aiTimeoutSeconds: Double?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case databaseURL = "database_url"
        case aiTimeoutSeconds = "ai_timeout_seconds"
    }
}

/// The AI's time budget when the config names none: below the handler's 60 s, with room to record a failure.
let defaultAITimeoutSeconds = 45.0

struct Services: Sendable {
    let store: Store
    let ai: AIClient
}

let services = Mutex<Services?>(nil)

func ready() throws -> Services {
    guard let current = services.withLock({ $0 }) else { throw DiscardJob("the company_context plugin is not initialised") }
    try current.store.prepare()
    return current
}

/// The plugin's table in the application database, created on first use.
final class Store: Sendable {
    let database: PostgresClient
    private let migrated = Mutex(false)

    init(databaseURL: String) throws {
        var logger = Logger(label: "jobhost.company_context", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        database = try PostgresClient(url: databaseURL, applicationName: "jobhost company_context", poolSize: 2, logger: logger)
    }

    /// Creates the table once per process; safe in many processes at once.
    func prepare() throws {
        if migrated.withLock({ $0 }) { return }
        try database.transaction { transaction in
            // One migrator at a time across hosts and workers: CREATE ... IF NOT EXISTS races otherwise.
            _ = try transaction.query("SELECT pg_advisory_xact_lock(hashtext('jobhost company_context'))")
            _ = try transaction.query(
                """
                CREATE TABLE IF NOT EXISTS company_contexts (
                    company_id   bigint PRIMARY KEY,
                    original     text NOT NULL,
                    context      text NOT NULL,
                    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'rewritten', 'failed')),
                    error        text,
                    attempts     int NOT NULL DEFAULT 0,
                    submitted_at timestamptz NOT NULL DEFAULT now(),
                    created_at   timestamptz NOT NULL DEFAULT now(),
                    updated_at   timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        migrated.withLock { $0 = true }
    }
}

struct Request: Decodable {
    let companyId: Int
    let text: String

    enum CodingKeys: String, CodingKey {
        case companyId = "company_id"
        case text
    }
}

/// What the AI answers.
struct Rewrite: Decodable {
    let text: String
}

/// Where the row stands once the submission is recorded.
enum Submission {
    /// Rewrite it.
    case pending
    /// This very text is rewritten already.
    case rewrittenAlready
    /// The row holds a text submitted after this job was enqueued.
    case superseded(submittedAt: String)
}

func process(_ job: Job, _ host: Host) throws -> Outcome {
    let request = try job.decode(Request.self)
    guard request.companyId > 0 else { return .discard("company_id must be a positive number, not \(request.companyId)") }
    guard !request.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
        return .discard("company \(request.companyId): the text is empty; there is nothing to rewrite")
    }
    let services = try ready()
    let database = services.store.database
    let company = String(request.companyId)

    switch try record(request, enqueuedAt: job.enqueuedAt, database) {
    case .rewrittenAlready:
        host.log(.info, "company \(company): this text is rewritten already; nothing to do")
        return .success
    case .superseded(let submittedAt):
        host.log(.info, "company \(company): a newer text (submitted \(submittedAt)) replaced this job's; nothing to do")
        return .success
    case .pending:
        break
    }

    // Counted before the call, so an attempt that dies inside it is counted too.
    let counted = try database.query(
        """
        UPDATE company_contexts SET attempts = attempts + 1, updated_at = now()
         WHERE company_id = $1 AND original = $2 AND status = 'pending'
        RETURNING attempts
        """, [company, request.text])
    guard let attempts = counted.int(0, 0) else {
        host.log(.info, "company \(company): the text changed or was finished by another job; nothing to do")
        return .success
    }

    let rewrite: String
    do {
        let prompt = try JSONSerialization.data(
            withJSONObject: ["task": "company_context.rewrite", "company_id": request.companyId, "text": request.text], options: [.sortedKeys])
        let answer = try services.ai.complete(
            system: """
                You rewrite a company's description into clear context for other AI prompts. Keep every fact; \
                invent none. Answer with JSON: {"text": "<the rewritten context>"}.
                """,
            user: String(decoding: prompt, as: UTF8.self), as: Rewrite.self)
        guard !answer.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AIError.unexpectedShape("the rewrite is empty")
        }
        rewrite = answer.text
    } catch let error as AIError {
        return try failed(job, request, attempts: attempts, error: error, database)
    }

    let stored = try database.query(
        """
        UPDATE company_contexts SET context = $3, status = 'rewritten', error = NULL, updated_at = now()
         WHERE company_id = $1 AND original = $2
        RETURNING company_id
        """, [company, request.text, rewrite])
    if stored.count == 0 {
        host.log(.info, "company \(company): the text changed while it was rewritten; the rewrite is dropped")
    } else {
        host.log(.info, "company \(company): context rewritten (attempt \(attempts))")
    }
    return .success
}

/// Stores the submission (see the header for what each case means) in one transaction, the row locked.
func record(_ request: Request, enqueuedAt: Date, _ database: PostgresClient) throws -> Submission {
    let company = String(request.companyId)
    // A host that did not say when the job was enqueued (0) must not make every submission look stale.
    let submitted = String(enqueuedAt.timeIntervalSince1970 > 0 ? enqueuedAt.timeIntervalSince1970 : Date().timeIntervalSince1970)
    return try database.transaction { transaction -> Submission in
        let inserted = try transaction.query(
            """
            INSERT INTO company_contexts (company_id, original, context, status, attempts, submitted_at)
            VALUES ($1, $2, $2, 'pending', 0, to_timestamp($3::double precision))
            ON CONFLICT (company_id) DO NOTHING
            RETURNING company_id
            """, [company, request.text, submitted])
        if inserted.count == 1 { return .pending }

        let row = try transaction.query(
            """
            SELECT original = $2, status, submitted_at > to_timestamp($3::double precision), submitted_at
              FROM company_contexts WHERE company_id = $1 FOR UPDATE
            """, [company, request.text, submitted])
        guard row.count == 1 else { throw PluginError("company \(company): its row vanished while it was being read") }
        let sameText = row[0, 0] == "t", status = row[0, 1] ?? "", newer = row[0, 2] == "t"
        if sameText {
            switch status {
            case "rewritten":
                return .rewrittenAlready
            case "failed":
                _ = try transaction.query(
                    "UPDATE company_contexts SET status = 'pending', attempts = 0, updated_at = now() WHERE company_id = $1", [company])
                return .pending
            default:
                return .pending
            }
        }
        if newer { return .superseded(submittedAt: row[0, 3] ?? "?") }
        _ = try transaction.query(
            """
            UPDATE company_contexts
               SET original = $2, context = $2, status = 'pending', error = NULL, attempts = 0,
                   submitted_at = to_timestamp($3::double precision), updated_at = now()
             WHERE company_id = $1
            """, [company, request.text, submitted])
        return .pending
    }
}

/// An AI failure: retried while attempts remain and the error may pass; otherwise the row is marked
/// failed — the error and attempts recorded, `original` and `context` left as they are.
func failed(_ job: Job, _ request: Request, attempts: Int, error: AIError, _ database: PostgresClient) throws -> Outcome {
    let company = String(request.companyId)
    if error.isTransient && !job.isLastAttempt {
        // Shown to an operator while the job waits for its next attempt.
        _ = try database.query(
            "UPDATE company_contexts SET error = $3, updated_at = now() WHERE company_id = $1 AND original = $2 AND status = 'pending'",
            [company, request.text, error.description])
        return .retry("company \(company): the AI rewrite failed (attempt \(job.attempt) of \(job.maxAttempts)): \(error)")
    }
    let marked = try database.query(
        """
        UPDATE company_contexts SET status = 'failed', error = $3, updated_at = now()
         WHERE company_id = $1 AND original = $2 AND status = 'pending'
        RETURNING company_id
        """, [company, request.text, error.description])
    let why = error.isTransient ? "after \(attempts) attempts" : "with an error no retry mends"
    let kept = marked.count == 1 ? "its context stays the original text" : "a newer submission replaced this text meanwhile"
    return .discard("company \(company): the AI rewrite failed \(why): \(error); \(kept)")
}

/// A failure of the plugin's own bookkeeping; the job is retried.
struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let plugin = Plugin(
    name: "company_context",
    version: "1.0.0",
    description: "AI rewrite of a company's context; the original text is kept when the rewrite fails",
    handlers: [
        Handler("company_context.process", description: "Saves {company_id, text} and has the AI rewrite it into the company's context",
                timeout: .seconds(60), run: process),
    ],
    onInit: { config, host in
        let (settings, configured) = try config.decode(Settings.self, AIConfiguration.self)
        var ai = configured
        if settings.aiTimeoutSeconds == nil { ai.timeoutSeconds = defaultAITimeoutSeconds }
        let store = try Store(databaseURL: settings.databaseURL)
        services.withLock { $0 = Services(store: store, ai: AIClient(configuration: ai)) }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
