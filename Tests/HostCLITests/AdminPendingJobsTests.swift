import Backend
import Foundation
import JobHostTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension AdminHarness {
    /// POSTs `body` as JSON.
    func post(_ path: String, json body: String, token: String? = AdminHarness.token, headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!, timeoutInterval: 30)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
    }
}

extension AdminHTTPTests {
    /// Cancel, bulk discard and search over HTTP, on a paused queue (the host takes none of its jobs;
    /// the one running job is leased by the test itself).
    @Test(arguments: HostHarness.BackendKind.allCases)
    func pendingJobsAreCancelledDiscardedAndSearchedOverHTTP(_ kind: HostHarness.BackendKind) async throws {
        let admin = try await AdminHarness(kind)
        let backend = admin.run.backend
        let running = try admin.run.enqueue(1, handler: "test.noop") { _ in #"{"customer": "initech"}"# }[0]
        let lease = try #require(try backend.fetch(queue: "default", limit: 1, lease: .seconds(300)).first).lease
        try backend.setPaused(queue: "default", true)
        let host = try await admin.startHost()
        let noop = try admin.run.enqueue(3, handler: "test.noop") { #"{"customer": "acme-\#($0)"}"# }
        let other = try admin.run.enqueue(2, handler: "test.fail_while") { _ in #"{"path": "/nonexistent"}"# }

        // Cancel: one ready job; a running job and an unknown id are refused; changes need the token.
        var answer = try await admin.post("/api/v1/jobs/\(noop[0])/cancel")
        #expect(answer.status == 200, "\(answer.text)")
        var fields = try answer.json()
        #expect(fields["id"] as? String == noop[0] && fields["queue"] as? String == "default" && fields["result"] as? String == "cancelled")
        #expect(try backend.job(queue: "default", id: noop[0]) == nil)
        answer = try await admin.post("/api/v1/jobs/\(running)/cancel")
        #expect(answer.status == 409, "\(answer.text)")
        #expect((try answer.json()["error"] as? String)?.contains("is running: a running job is never cancelled") == true, "\(answer.text)")
        #expect(try await admin.post("/api/v1/jobs/\(noop[0])/cancel").status == 404)
        #expect(try await admin.post("/api/v1/jobs/\(noop[1])/cancel", token: nil).status == 401)
        #expect(try await admin.post("/api/v1/jobs/\(noop[1])/cancel", headers: ["Sec-Fetch-Site": "cross-site"]).status == 403)
        #expect(try await admin.post("/api/v1/jobs/\(noop[1])/frobnicate").status == 404)
        #expect(try backend.job(queue: "default", id: noop[1])?.state == .ready, "nothing refused was done")

        // Search: by payload text, handler and id, newest first; reading needs the token.
        answer = try await admin.get("/api/v1/queues/default/search?q=acme&limit=10")
        #expect(answer.status == 200, "\(answer.text)")
        var found = try answer.json()
        #expect(found["queue"] as? String == "default" && found["query"] as? String == "acme" && found["truncated"] as? Bool == false)
        // Enqueued in one batch: the same enqueue time, so their order is not the point here.
        #expect(Set((found["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []) == [noop[2], noop[1]], "\(answer.text)")
        answer = try await admin.get("/api/v1/queues/default/search?q=\(running)")
        found = try answer.json()
        #expect((found["jobs"] as? [[String: Any]])?.first?["state"] as? String == "running", "\(answer.text)")
        #expect(try await admin.get("/api/v1/queues/default/search").status == 400)
        #expect(try await admin.get("/api/v1/queues/default/search?q=acme&limit=0").status == 400)
        #expect(try await admin.get("/api/v1/queues/nope/search?q=acme").status == 404)
        #expect(try await admin.get("/api/v1/queues/default/search?q=acme", token: nil).status == 401)

        // Bulk discard: a bad body is refused before anything is done; then one handler's ready jobs go.
        for body in [
            #"{"state": "running"}"#, #"{"state": "ready", "handlr": "test.noop"}"#, #"{"state": "ready", "older_than_seconds": "1h"}"#, "[]",
        ] {
            answer = try await admin.post("/api/v1/queues/default/discard", json: body)
            #expect(answer.status == 400, "\(body): \(answer.text)")
        }
        #expect(try await admin.post("/api/v1/queues/default/discard", json: #"{"state": "ready"}"#, token: nil).status == 401)
        #expect(try await admin.post("/api/v1/queues/nope/discard", json: #"{"state": "ready"}"#).status == 404)
        #expect(try backend.stats(queue: "default").ready == 4)
        answer = try await admin.post("/api/v1/queues/default/discard", json: #"{"state": "ready", "older_than_seconds": 3600}"#)
        #expect(try answer.json()["discarded"] as? Int == 0, "\(answer.text)")
        answer = try await admin.post("/api/v1/queues/default/discard", json: #"{"state": "ready", "handler": "test.noop"}"#)
        #expect(answer.status == 200, "\(answer.text)")
        fields = try answer.json()
        #expect(fields["queue"] as? String == "default" && fields["state"] as? String == "ready" && fields["discarded"] as? Int == 2)
        #expect(try Set(backend.list(queue: "default", state: .ready, offset: 0, limit: 10).map(\.id)) == Set(other))
        #expect(try backend.job(queue: "default", id: running)?.state == .running)
        #expect(try backend.settle([(lease, .done(retention: .seconds(60)))]) == [true])

        // The queue's other actions still answer on the same route.
        answer = try await admin.post("/api/v1/queues/default/resume")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(try answer.json()["paused"] as? Bool == false, "\(answer.text)")
        #expect(try await admin.post("/api/v1/queues/default/frobnicate").status == 404)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
