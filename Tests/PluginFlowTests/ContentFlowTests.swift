import Foundation
import Glibc
import JobHostTesting
import Testing

/// Noctua and Voxa end to end: a strategy from request to 20 draft items, refined into production,
/// through failures of the AI and a host killed in the middle of the chain.
@Suite(.serialized)
struct ContentFlowTests {
    static let request = #"{"user_id": 7, "brand_id": 42, "month": "2026-12", "brief": "winter coats for city cyclists"}"#

    /// Runs a strategy to completion and returns its plan id.
    func completedPlan(_ harness: HostHarness, host: BackgroundProcess) async throws -> String {
        let job = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("the content plan completed") {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(job)'") == "completed"
        }
        return try harness.sql("SELECT id FROM content_plans WHERE request_id = '\(job)'")
    }

    @Test func aStrategyGoesFromRequestToTwentyDraftItems() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua"])
        let host = try harness.startHost()
        let plan = try await completedPlan(harness, host: host)
        #expect(try harness.sql("SELECT count(*), count(*) FILTER (WHERE status = 'draft') FROM content_items WHERE plan_id = \(plan)") == "20|20")
        #expect(try harness.sql("SELECT count(DISTINCT week), min(position), max(position) FROM content_items WHERE plan_id = \(plan)") == "4|1|5")
        #expect(try harness.sql("SELECT jsonb_array_length(weekly_plan), error IS NULL FROM content_plans WHERE id = \(plan)") == "4|t")
        #expect(try harness.fakeAI.stats().byTask["noctua.week"] == 4, "one AI call per week")
        try await harness.waitUntil("the queue idle") { try harness.idle(["default"]) }
        #expect(try harness.backend.stats(queue: "default").processed == 5, "the request and four weeks")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func aWeekThatKeepsFailingMarksThePlanFailedNotProcessing() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua"], maxAttempts: 3)
        try harness.fakeAI.control(mode: "error500", task: "noctua.week")
        let host = try harness.startHost()
        let job = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("the content plan failed") {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(job)'") == "failed"
        }
        let error = try harness.sql("SELECT error FROM content_plans WHERE request_id = '\(job)'")
        #expect(error.contains("week 1") && error.contains("500"), "\(error)")
        #expect(try harness.fakeAI.stats().byTask["noctua.week"] == 3, "three attempts")
        let dead = try harness.backend.list(queue: "default", state: .dead, offset: 0, limit: 10)
        #expect(dead.count == 1 && dead[0].handler == "noctua.strategy_batch", "\(dead)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func voxaRefinesEveryItemEvenWhenTheAIAnswerMissesTwo() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua", "Voxa"])
        let host = try harness.startHost()
        let plan = try await completedPlan(harness, host: host)
        // The first refine answer leaves out two of its seven items.
        try harness.fakeAI.control(mode: "drop_ids", count: 1, drop: 2, task: "voxa.refine")
        _ = try await harness.enqueue("voxa.refine_content", #"{"plan_id": \#(plan)}"#)
        try await harness.waitUntil("the plan refined") {
            try harness.sql("SELECT refine_status FROM content_plans WHERE id = \(plan)") == "completed"
        }
        #expect(try harness.sql(
            "SELECT count(*) FILTER (WHERE status = 'in_production' AND script IS NOT NULL) FROM content_items WHERE plan_id = \(plan)") == "20")
        // 20 items in batches of 7: 3 calls, and one more for the two items the first answer missed.
        #expect(try harness.fakeAI.stats().byTask["voxa.refine"] == 4)
        #expect(host.log.contains("the AI answer missed items"), "\(host.log.suffix(2000))")

        // A plan already being refined is refused, clearly.
        _ = try harness.sql("UPDATE content_plans SET refine_status = 'refining', refine_job = 'someone-else' WHERE id = \(plan)")
        let second = try await harness.enqueue("voxa.refine_content", #"{"plan_id": \#(plan)}"#)
        try await harness.waitUntil("the second refine job dead") { try harness.backend.job(queue: "default", id: second)?.state == .dead }
        #expect(try harness.backend.job(queue: "default", id: second)?.lastError?.contains("is already being refined") == true)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func recoverStuckRepairsAStalledRefinementAndFinishesIt() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua", "Voxa"])
        let host = try harness.startHost()
        let plan = try await completedPlan(harness, host: host)
        // What the seed system left behind: a refinement that died, its items in_progress for hours.
        _ = try harness.sql("""
            UPDATE content_items SET status = 'in_progress', updated_at = now() - interval '2 hours' WHERE plan_id = \(plan) AND week <= 2;
            UPDATE content_plans SET refine_status = 'refining', refine_job = 'lost', refine_started_at = now() - interval '2 hours' WHERE id = \(plan);
            """)
        _ = try await harness.enqueue("voxa.recover_stuck", #"{"older_than_minutes": 30}"#)
        try await harness.waitUntil("the plan refined after the repair") {
            try harness.sql("SELECT refine_status FROM content_plans WHERE id = \(plan)") == "completed"
        }
        #expect(try harness.sql("SELECT count(*) FROM content_items WHERE plan_id = \(plan) AND status = 'in_production'") == "20")
        #expect(host.log.contains("recover_stuck: 1 plans and 10 items repaired"), "\(host.log.suffix(2000))")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func aHostKilledInTheMiddleOfAStrategyLeavesNoDuplicateAndTheChainCompletes() async throws {
        let harness = try await HostHarness.flow(plugins: ["Noctua"])
        // Each week takes a second: the kill lands between weeks 2 and 4.
        try harness.fakeAI.control(mode: "slow", delay: 1.0, task: "noctua.week")
        let first = try harness.startHost("first")
        let job = try await harness.enqueue("noctua.generate_strategy", Self.request)
        try await harness.waitUntil("midway") {
            (Int(try harness.sql("SELECT count(*) FROM content_plans, jsonb_object_keys(weeks) WHERE request_id = '\(job)'")) ?? 0) >= 2
        }
        first.send(SIGKILL)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 128 + SIGKILL)
        #expect(try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(job)'") == "processing")
        let second = try harness.startHost("second")
        try await harness.waitUntil("the content plan completed", timeout: .seconds(90)) {
            try harness.sql("SELECT status FROM content_plans WHERE request_id = '\(job)'") == "completed"
        }
        #expect(try harness.sql("SELECT count(*) FROM content_plans") == "1", "one plan for one request")
        #expect(try harness.sql("SELECT count(*), count(DISTINCT (week, position)) FROM content_items") == "20|20", "no duplicate item")
        #expect(try harness.sql("SELECT count(*) FROM content_plans, jsonb_object_keys(weeks)") == "4")
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
