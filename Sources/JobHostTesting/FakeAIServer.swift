import Foundation
import Glibc

/// The fake OpenAI-compatible server (`scripts/fake-ai`) on a private loopback port, for tests of
/// the reference plugins: deterministic answers per task, failures on request, counters.
///
/// Needs `python3` (standard library only).
public final class FakeAIServer: Sendable {
    public let port: Int
    public let pid: Int32
    let process: ServerProcess

    /// The base URL a client configures (`ai_base_url`), ending in `/v1`.
    public var url: String { "http://127.0.0.1:\(port)/v1" }

    private init(process: ServerProcess, port: Int) {
        self.process = process
        self.port = port
        self.pid = process.pid
    }

    public static func start(timeout: Duration = .seconds(30)) async throws -> FakeAIServer {
        try await onDedicatedThread {
            let script = BuildProducts.repositoryRoot.appendingPathComponent("scripts/fake-ai").path
            let (process, port) = try ServerProcess.launch(
                name: "fake-ai", logName: "fake-ai.log", stopSignal: SIGTERM, timeout: timeout,
                spawn: { port, _, logPath in
                    try spawnProcess(
                        executable: "python3", arguments: [script, "--port", String(port)],
                        environment: nil, stdin: nil, output: .logFile(logPath), newProcessGroup: false)
                },
                isReady: { pid, port, _ in
                    guard let reply = try? exchange(port: port, method: "GET", path: "/health", body: nil) else { return false }
                    return reply.contains("\"pid\": \(pid)")
                })
            return FakeAIServer(process: process, port: port)
        }
    }

    /// Makes the next `count` requests (all, if `nil`) of `task` (any task, if `nil`) behave as
    /// `mode`: ok, error500, error (with `status`), slow (`delay` seconds), malformed,
    /// malformed_body, wrong_shape, drop_ids (`drop` items left out), fenced.
    public func control(
        mode: String, count: Int? = nil, delay: Double? = nil, drop: Int? = nil, task: String? = nil, status: Int? = nil
    ) throws {
        var rule: [String: Any] = ["mode": mode]
        rule["count"] = count
        rule["delay"] = delay
        rule["drop"] = drop
        rule["task"] = task
        rule["status"] = status
        let body = String(decoding: try JSONSerialization.data(withJSONObject: rule), as: UTF8.self)
        _ = try Self.exchange(port: port, method: "POST", path: "/control", body: body)
    }

    /// Forgets every rule and counter.
    public func reset() throws {
        _ = try Self.exchange(port: port, method: "POST", path: "/reset", body: "{}")
    }

    public struct Stats: Decodable, Sendable {
        public let requests: Int
        public let byTask: [String: Int]
        /// The `Authorization` header of the last chat request, if it had one.
        public let lastAuthorization: String?
    }

    public func stats() throws -> Stats {
        let body = try Self.exchange(port: port, method: "GET", path: "/stats", body: nil)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Stats.self, from: Data(body.utf8))
    }

    public func stop() { process.stop() }

    /// One HTTP/1.1 request, the response body back. Plain sockets: the harness needs nothing
    /// more than Content-Length framing from a server it wrote itself.
    static func exchange(port: Int, method: String, path: String, body: String?) throws -> String {
        let payload = body ?? ""
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(payload.utf8.count)\r\nConnection: close\r\n\r\n\(payload)"
        guard let reply = Loopback.exchange(port: port, request: request, isComplete: { HTTPReply($0) != nil }),
              let parsed = HTTPReply(reply)
        else { throw HarnessError.requestFailed("\(method) \(path) on the fake AI server (port \(port)) got no complete answer") }
        guard parsed.status == 200 else {
            throw HarnessError.requestFailed("\(method) \(path) on the fake AI server answered \(parsed.status): \(parsed.body)")
        }
        return parsed.body
    }
}

/// A complete HTTP response with a Content-Length, or nil while bytes are missing.
private struct HTTPReply: Equatable {
    let status: Int
    let body: String

    init?(_ bytes: [UInt8]) {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
        let length = head.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        let start = end + separator.count
        guard bytes.count >= start + length else { return nil }
        self.status = status
        self.body = String(decoding: bytes[start..<(start + length)], as: UTF8.self)
    }
}
