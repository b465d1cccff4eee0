// Voxa: refines a completed content plan's items into production scripts, seven at a time.
//
// voxa.refine_content {plan_id} claims the plan for refinement (a plan already being refined is
// refused: a clear discard) and enqueues one voxa.refine_batch per seven items not yet in
// production. A batch marks its items in_progress, asks the AI, and in one transaction moves the
// items the answer covers to in_production and puts the others back to draft — the seed system left
// them in_progress for ever — then retries for those. The plan's refinement ends `completed` when
// every item is in production, else `incomplete` with what is left. voxa.recover_stuck (schedule it)
// repairs refinements stuck longer than a threshold, as the seed's runbook did by hand.
import AIClient
import ContentStore
import Foundation
import PluginKit
import PostgresClient
import Synchronization

/// The host's services to a job (Foundation has a `Host` too).
typealias Host = PluginKit.Host

/// The plugin's own keys; the ai_* keys are AIConfiguration's.
struct Settings: Decodable {
    var databaseURL: String
    /// Items per refine_batch job; 7 when left out.
    var batchSize: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case databaseURL = "database_url"
        case batchSize = "batch_size"
    }
}

struct Services: Sendable {
    let store: ContentStore
    let ai: AIClient
    let batchSize: Int
}

let services = Mutex<Services?>(nil)

func ready() throws -> Services {
    guard let current = services.withLock({ $0 }) else { throw DiscardJob("the voxa plugin is not initialised") }
    try current.store.prepare()
    return current
}

struct RefineRequest: Codable {
    let planId: Int
}

struct BatchRequest: Codable {
    let planId: Int
    let batch: Int
    let itemIds: [Int]
}

struct RecoverRequest: Codable {
    /// e.g. "30m"; default 30 minutes.
    let olderThanMinutes: Int?
}

/// The AI's answer for a batch.
struct Refined: Codable {
    struct Item: Codable {
        let id: Int
        let title: String
        let script: String
        let hashtags: [String]
    }

    let items: [Item]
}

func refineContent(_ job: Job, _ host: Host) throws -> Outcome {
    let request = try job.decode(RefineRequest.self, decoder: snakeCase)
    let services = try ready()
    let database = services.store.database
    let plan = String(request.planId)
    let current = try database.query("SELECT status, refine_status, refine_job, refine_started_at FROM content_plans WHERE id = $1", [plan])
    guard current.count == 1 else { return .discard("no content plan \(request.planId)") }
    guard current[0, 0] == "completed" else {
        return .discard("plan \(request.planId) is \(current[0, 0] ?? "?"); only a completed strategy can be refined")
    }
    // Claimed by this job, or by none: the same job running again (at least once) goes on.
    let claimed = try database.transaction { transaction -> [Int]? in
        let rows = try transaction.query(
            """
            UPDATE content_plans
               SET refine_status = 'refining', refine_job = $2, refine_started_at = now(), refine_done = '{}', refine_note = NULL,
                   updated_at = now()
             WHERE id = $1 AND (refine_status <> 'refining' OR refine_job = $2)
            RETURNING id
            """, [plan, job.id])
        guard rows.count == 1 else { return nil }
        let items = try transaction.query(
            "SELECT id FROM content_items WHERE plan_id = $1 AND status <> 'in_production' ORDER BY week, position", [plan])
        let ids = (0..<items.count).compactMap { items.int($0, 0) }
        let batches = (ids.count + services.batchSize - 1) / services.batchSize
        _ = try transaction.query("UPDATE content_plans SET refine_batches = $2 WHERE id = $1", [plan, String(batches)])
        return ids
    }
    guard let ids = claimed else {
        return .discard("plan \(request.planId) is already being refined (by job \(current[0, 2] ?? "?") since \(current[0, 3] ?? "?"))")
    }
    if ids.isEmpty {
        _ = try database.query(
            "UPDATE content_plans SET refine_status = 'completed', refine_note = 'every item was in production already' WHERE id = $1", [plan])
        return .success
    }
    let batches = stride(from: 0, to: ids.count, by: services.batchSize).map { Array(ids[$0..<min($0 + services.batchSize, ids.count)]) }
    for (index, batch) in batches.enumerated() {
        try host.enqueue(
            handler: "voxa.refine_batch",
            payload: snakeCaseEncoder.encode(BatchRequest(planId: request.planId, batch: index + 1, itemIds: batch)),
            uniqueKey: "voxa.plan.\(request.planId).\(job.id).batch.\(index + 1)")
    }
    host.log(.info, "plan \(request.planId): refining \(ids.count) items in \(batches.count) batches")
    return .success
}

func refineBatch(_ job: Job, _ host: Host) throws -> Outcome {
    let request = try job.decode(BatchRequest.self, decoder: snakeCase)
    let services = try ready()
    let database = services.store.database
    let plan = String(request.planId)
    let ids = "{\(request.itemIds.map(String.init).joined(separator: ","))}"
    let pending = try database.query(
        """
        UPDATE content_items SET status = 'in_progress', updated_at = now()
         WHERE plan_id = $1 AND id = ANY($2::bigint[]) AND status <> 'in_production'
        RETURNING id, title
        """, [plan, ids])
    let items = (0..<pending.count).compactMap { row in pending.int(row, 0).map { ["id": $0, "title": pending[row, 1] ?? ""] as [String: Any] } }
    if items.isEmpty {
        return try finishBatch(request, left: [], host, database)
    }
    let refined: Refined
    do {
        let prompt = try JSONSerialization.data(withJSONObject: ["task": "voxa.refine", "items": items], options: [.sortedKeys])
        refined = try services.ai.complete(
            system: "You turn content ideas into production scripts. Answer with JSON: {items: [{id, title, script, hashtags}]}.",
            user: String(decoding: prompt, as: UTF8.self), as: Refined.self)
    } catch let error as AIError {
        // Never left in_progress: back to draft, then retry (or, out of attempts, end the batch).
        _ = try database.query(
            "UPDATE content_items SET status = 'draft', updated_at = now() WHERE plan_id = $1 AND id = ANY($2::bigint[]) AND status = 'in_progress'",
            [plan, ids])
        if !job.isLastAttempt { return .retry("batch \(request.batch): \(error)") }
        return try finishBatch(request, left: request.itemIds, host, database, failure: "\(error)")
    }
    let asked = Set(items.compactMap { $0["id"] as? Int })
    let answered = refined.items.filter { asked.contains($0.id) }
    let missing = asked.subtracting(answered.map(\.id)).sorted()
    try database.transaction { transaction in
        for item in answered {
            _ = try transaction.query(
                """
                UPDATE content_items SET status = 'in_production', script = $3, hashtags = $4::text[], updated_at = now()
                 WHERE plan_id = $1 AND id = $2
                """,
                [plan, String(item.id), item.script, "{\(item.hashtags.map { "\"\($0.replacingOccurrences(of: "\"", with: ""))\"" }.joined(separator: ","))}"])
        }
        // What the answer left out goes back to draft: never stuck in_progress.
        _ = try transaction.query(
            "UPDATE content_items SET status = 'draft', updated_at = now() WHERE plan_id = $1 AND id = ANY($2::bigint[]) AND status = 'in_progress'",
            [plan, ids])
    }
    if !missing.isEmpty && !job.isLastAttempt {
        return .retry("batch \(request.batch): the AI answer missed items \(missing.map(String.init).joined(separator: ", ")); they are back in draft")
    }
    return try finishBatch(request, left: missing, host, database)
}

/// Records the batch as finished (once, however often it runs); the last batch of the plan decides
/// how the refinement ends.
func finishBatch(_ request: BatchRequest, left: [Int], _ host: Host, _ database: PostgresClient, failure: String? = nil) throws -> Outcome {
    let plan = String(request.planId)
    let outcome = try database.transaction { transaction -> (done: Int, of: Int, inProduction: Int, total: Int)? in
        let rows = try transaction.query(
            """
            UPDATE content_plans SET refine_done = refine_done || $2::int, updated_at = now()
             WHERE id = $1 AND refine_status = 'refining' AND NOT ($2::int = ANY(refine_done))
            RETURNING cardinality(refine_done), refine_batches
            """, [plan, String(request.batch)])
        guard rows.count == 1, let done = rows.int(0, 0), let of = rows.int(0, 1) else { return nil }
        let counts = try transaction.query(
            "SELECT count(*) FILTER (WHERE status = 'in_production'), count(*) FROM content_items WHERE plan_id = $1", [plan])
        let inProduction = counts.int(0, 0) ?? 0, total = counts.int(0, 1) ?? 0
        if done >= of {
            let complete = inProduction == total
            let note = complete ? nil : "\(total - inProduction) of \(total) items are not in production"
            _ = try transaction.query(
                "UPDATE content_plans SET refine_status = $2, refine_note = $3, updated_at = now() WHERE id = $1",
                [plan, complete ? "completed" : "incomplete", note])
        }
        return (done, of, inProduction, total)
    }
    if let outcome, outcome.done >= outcome.of {
        host.log(.info, "plan \(request.planId): refinement finished, \(outcome.inProduction) of \(outcome.total) items in production")
    }
    if let failure { return .discard("batch \(request.batch) gave up: \(failure); items \(left) stay in draft") }
    if !left.isEmpty { return .discard("batch \(request.batch): items \(left) were never in the AI's answer; they stay in draft") }
    return .success
}

func recoverStuck(_ job: Job, _ host: Host) throws -> Outcome {
    let request = (try? job.decode(RecoverRequest.self, decoder: snakeCase)) ?? RecoverRequest(olderThanMinutes: nil)
    let minutes = max(1, request.olderThanMinutes ?? 30)
    let services = try ready()
    let repaired = try services.store.database.transaction { transaction -> (plans: [Int], items: Int) in
        let items = try transaction.query(
            """
            UPDATE content_items SET status = 'draft', updated_at = now()
             WHERE status = 'in_progress' AND updated_at < now() - make_interval(mins => $1)
            RETURNING plan_id
            """, [String(minutes)])
        let plans = try transaction.query(
            """
            UPDATE content_plans SET refine_status = 'idle', refine_job = NULL,
                   refine_note = 'recovered: refinement stuck for more than ' || $1 || ' minutes', updated_at = now()
             WHERE refine_status = 'refining' AND refine_started_at < now() - make_interval(mins => $1)
            RETURNING id
            """, [String(minutes)])
        return ((0..<plans.count).compactMap { plans.int($0, 0) }, items.count)
    }
    // Each repaired plan is refined again, from the items still not in production.
    for plan in repaired.plans {
        try host.enqueue(handler: "voxa.refine_content", payload: snakeCaseEncoder.encode(RefineRequest(planId: plan)))
    }
    host.log(.info, "recover_stuck: \(repaired.plans.count) plans and \(repaired.items) items repaired (older than \(minutes) min)")
    return .success
}

let plugin = Plugin(
    name: "voxa",
    version: "1.0.0",
    description: "Refines content plans into production scripts, seven items at a time",
    handlers: [
        Handler("voxa.refine_content", description: "Starts refining a completed plan {plan_id}", timeout: .seconds(30), run: refineContent),
        Handler("voxa.refine_batch", description: "Refines up to seven items {plan_id, batch, item_ids}", timeout: .seconds(120), run: refineBatch),
        Handler("voxa.recover_stuck", description: "Repairs refinements stuck longer than {older_than_minutes} (default 30)",
                timeout: .seconds(60), run: recoverStuck),
    ],
    onInit: { config, host in
        let (settings, ai) = try config.decode(Settings.self, AIConfiguration.self)
        let batchSize = settings.batchSize ?? 7
        guard batchSize >= 1 else { throw PluginConfigurationError(at: "batch_size", message: "must be at least 1, found \(batchSize)") }
        let store = try ContentStore(settings: DatabaseSettings(databaseURL: settings.databaseURL), plugin: "voxa")
        services.withLock { $0 = Services(store: store, ai: AIClient(configuration: ai), batchSize: batchSize) }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
