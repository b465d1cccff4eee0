import Foundation
import Glibc
import JobHostTesting
import Testing

/// company-context end to end: the rewrite stored beside the original, re-submissions, and an AI
/// that keeps failing — the company's own text then stays its context, byte for byte.
@Suite(.serialized)
struct CompanyContextFlowTests {
    /// Three attempts for the rewrite, set on the handler's route (the queue allows five).
    static let route = "  company_context.process: { queue: default, timeout: 8s, retry: { max_attempts: 3, base: 100ms, max: 300ms } }"

    static func payload(company: Int, text: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["company_id": company, "text": text]), as: UTF8.self)
    }

    /// The UTF-8 bytes of `text` in hex, as `encode(convert_to(column, 'UTF8'), 'hex')` prints them.
    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }

    @Test func theRewriteBecomesTheContextAndTheOriginalIsKept() async throws {
        let harness = try await HostHarness.flow(plugins: ["CompanyContext"], routes: Self.route)
        let host = try harness.startHost()
        let first = try await harness.enqueue("company_context.process", try Self.payload(company: 42, text: "Acme builds cargo bikes.  "))
        #expect(try await harness.finish(first) == .done, "\(host.log.suffix(3000))")
        #expect(try harness.sql("SELECT status, context, attempts, error IS NULL FROM company_contexts WHERE company_id = 42")
            == "rewritten|Rewritten: Acme builds cargo bikes.|1|t")
        #expect(try harness.sql("SELECT encode(convert_to(original, 'UTF8'), 'hex') FROM company_contexts WHERE company_id = 42")
            == Self.hex("Acme builds cargo bikes.  "), "the original as sent, trailing spaces included")

        // The same text again: rewritten already, so no second AI call.
        let again = try await harness.enqueue("company_context.process", try Self.payload(company: 42, text: "Acme builds cargo bikes.  "))
        #expect(try await harness.finish(again) == .done)
        #expect(try harness.fakeAI.stats().byTask["company_context.rewrite"] == 1)
        #expect(try harness.sql("SELECT status, context FROM company_contexts WHERE company_id = 42") == "rewritten|Rewritten: Acme builds cargo bikes.")

        // New words for the company: a new original, rewritten in turn.
        let changed = try await harness.enqueue("company_context.process", try Self.payload(company: 42, text: "Acme builds e-bikes."))
        #expect(try await harness.finish(changed) == .done)
        #expect(try harness.sql("SELECT original, context, status, attempts FROM company_contexts WHERE company_id = 42")
            == "Acme builds e-bikes.|Rewritten: Acme builds e-bikes.|rewritten|1")
        #expect(try harness.fakeAI.stats().byTask["company_context.rewrite"] == 2)
        #expect(try harness.sql("SELECT count(*) FROM company_contexts") == "1")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func anAIThatKeepsFailingLeavesTheOriginalAsTheContextByteForByte() async throws {
        let harness = try await HostHarness.flow(plugins: ["CompanyContext"], routes: Self.route)
        try harness.fakeAI.control(mode: "error500", task: "company_context.rewrite")
        let host = try harness.startHost()
        // Unicode (a decomposed é too, which must not be normalised), a quote, CRLF, trailing spaces.
        let text = "Café \"Zürich\" — 日本語 e\u{301}tude 🚲\r\nSecond line with trailing spaces   \r\n  "
        let job = try await harness.enqueue("company_context.process", try Self.payload(company: 4242, text: text))
        #expect(try await harness.finish(job, timeout: .seconds(30)) == .dead, "\(host.log.suffix(3000))")

        #expect(try harness.fakeAI.stats().byTask["company_context.rewrite"] == 3, "three attempts, each one AI call")
        #expect(try harness.sql("SELECT status, attempts FROM company_contexts WHERE company_id = 4242") == "failed|3")
        let error = try harness.sql("SELECT error FROM company_contexts WHERE company_id = 4242")
        #expect(error.contains("HTTP 500"), "\(error)")
        #expect(try harness.sql("""
            SELECT encode(convert_to(original, 'UTF8'), 'hex'), encode(convert_to(context, 'UTF8'), 'hex')
              FROM company_contexts WHERE company_id = 4242
            """) == "\(Self.hex(text))|\(Self.hex(text))")
        let reason = try harness.backend.job(queue: "default", id: job)?.lastError ?? ""
        #expect(reason.contains("company 4242") && reason.contains("after 3 attempts") && reason.contains("stays the original"), "\(reason)")

        // A refused request is not retried: one call, failed at once.
        try harness.fakeAI.reset()
        try harness.fakeAI.control(mode: "error", task: "company_context.rewrite", status: 400)
        let refused = try await harness.enqueue("company_context.process", try Self.payload(company: 7, text: "Seven"))
        #expect(try await harness.finish(refused) == .dead)
        #expect(try harness.fakeAI.stats().byTask["company_context.rewrite"] == 1)
        #expect(try harness.sql("SELECT status, attempts, context FROM company_contexts WHERE company_id = 7") == "failed|1|Seven")
        #expect(try harness.backend.job(queue: "default", id: refused)?.lastError?.contains("no retry mends") == true)

        // Submitting the same text again once the AI is back tries afresh.
        try harness.fakeAI.reset()
        let retried = try await harness.enqueue("company_context.process", try Self.payload(company: 4242, text: text))
        #expect(try await harness.finish(retried) == .done)
        #expect(try harness.sql("SELECT status, attempts, context = 'Rewritten: ' || btrim(original, E' \\r\\n') FROM company_contexts WHERE company_id = 4242")
            == "rewritten|1|t")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
