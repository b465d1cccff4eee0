import Foundation
import Glibc
import JobHostTesting
import Testing

/// A Noctua chain killed mid-way never leaves its plan `processing`: a week failing its last attempt
/// for a reason the handler sees fails the plan itself; one that dies where no handler sees it (a
/// timeout on every attempt) is failed by noctua.recover_stuck once it had no progress for `stuck_after`.
@Suite(.serialized)
struct NoctuaRecoveryTests {
    static let request = #"{"user_id": 7, "brand_id": 42, "month": "2026-12", "brief": "winter coats for city cyclists"}"#

    @Test func aWeekWhoseStoreKeepsFailingInTheDatabaseMarksThePlanFailed() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua"], maxAttempts: 2)
        let host = try harness.startHost()
        // A first strategy creates the tables; then storing any week fails: not an AI error.
        let first = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("the first plan completed") {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(first)'") == "completed"
        }
        _ = try harness.sql("""
            CREATE FUNCTION refuse_weeks() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.weeks IS DISTINCT FROM OLD.weeks THEN RAISE EXCEPTION 'disk quota exceeded while storing weeks'; END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_weeks BEFORE UPDATE ON content_plans FOR EACH ROW EXECUTE FUNCTION refuse_weeks();
            """)
        let second = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("the second plan failed") {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(second)'") == "failed"
        }
        let error = try harness.sql("SELECT error FROM content_plans WHERE request_id = '\(second)'")
        #expect(error.hasPrefix("week 1: ") && error.contains("disk quota exceeded"), "\(error)")
        try await harness.waitUntil("the queue idle") { try harness.idle(["default"]) }
        let dead = try harness.backend.list(queue: "default", state: .dead, offset: 0, limit: 10)
        #expect(dead.count == 1 && dead[0].handler == "noctua.strategy_batch" && dead[0].attempt == 2, "\(dead)")
        #expect(dead.first?.lastError?.contains("failed: week 1:") == true, "\(dead)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func aChainKilledByTimeoutsLeavesItsPlanForRecoverStuckToFail() async throws {
        // Week 3 overruns its 1 s timeout on both attempts: its worker is killed each time, the job
        // ends dead, and no handler code runs to tell the plan.
        let harness = try await HostHarness.flow(
            plugins: ["Noctua"], maxAttempts: 2, routes: "  noctua.strategy_batch: { queue: default, timeout: 1s }")
        try harness.fakeAI.control(mode: "ok", count: 2, task: "noctua.week")
        try harness.fakeAI.control(mode: "slow", delay: 6, task: "noctua.week")
        let host = try harness.startHost()
        let job = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("week 3's job dead", timeout: .seconds(90)) {
            try harness.backend.list(queue: "default", state: .dead, offset: 0, limit: 10).contains { $0.handler == "noctua.strategy_batch" }
        }
        let dead = try harness.backend.list(queue: "default", state: .dead, offset: 0, limit: 10)
        #expect(dead.count == 1 && dead[0].lastError?.contains("timeout") == true, "\(dead)")
        #expect(try harness.sql("SELECT status, (SELECT count(*) FROM jsonb_object_keys(weeks)) FROM content_plans WHERE request_id = '\(job)'") == "processing|2")

        // Stuck for three hours, and another plan still making progress: only the first is failed.
        _ = try harness.sql("UPDATE content_plans SET updated_at = now() - interval '3 hours' WHERE request_id = '\(job)'")
        let busy = try harness.sql(
            "INSERT INTO content_plans (user_id, brand_id, month, brief, status) VALUES (1, 1, '2026-11', 'still going', 'processing') RETURNING id")
        _ = try await harness.enqueue("noctua.recover_stuck", "{}")
        try await harness.waitUntil("the stuck plan failed") {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(job)'") == "failed"
        }
        let error = try harness.sql("SELECT error FROM content_plans WHERE request_id = '\(job)'")
        #expect(error.hasPrefix("recovered: processing with 2 of 4 weeks stored and no progress for more than 2h (stuck_after)"), "\(error)")
        try await harness.waitUntil("the queue idle") { try harness.idle(["default"]) }
        #expect(try harness.sql("SELECT status FROM content_plans WHERE id = \(busy)") == "processing")
        #expect(host.log.contains("recover_stuck: 1 plans stuck for more than 2h marked failed"), "\(host.log.suffix(2000))")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
