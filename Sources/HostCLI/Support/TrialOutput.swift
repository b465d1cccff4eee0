import Durations
import Foundation
import HostConfig
import Supervisor

/// `host try`'s text: one labelled line per fact, the plugin's log lines as they arrive (flushed, so a
/// long handler shows its progress), then the outcome.
struct TrialPrinter {
    let request: TrialRequest
    /// Lines `init` logged before the plugin's own line could be printed: they follow it.
    private var initLines: [TrialLogLine] = []
    private var loaded = false

    init(request: TrialRequest) { self.request = request }

    mutating func show(_ event: TrialEvent) {
        switch event {
        case .loaded(let plugin):
            line("plugin", "\(plugin.name) \(plugin.version) (ABI \(plugin.abi)), \(plugin.path)")
            line("job", "\(request.jobID) \(request.handler), attempt \(request.attempt) of \(request.maxAttempts), queue \(request.queue), timeout \(request.timeout.configText), in a worker process")
            loaded = true
            printInitLines()
        case .log(let log) where log.fromInit && !loaded:
            initLines.append(log)
        case .log(let log):
            line(log.fromInit ? "init" : "log", "\(log.level): \(log.message)")
        case .enqueued(let job):
            let delay = job.delayMilliseconds > 0 ? " after \(Duration.milliseconds(job.delayMilliseconds).configText)" : ""
            line("enqueue", "\(job.handler) on queue \(job.queue)\(delay): \(job.payload) (not enqueued: host try has no backend)")
        case .started, .finished, .refused:
            break
        }
        fflush(nil)  // nil: every stream; `stdout` is a C global Swift 6 will not touch
    }

    mutating func finish(_ report: HandlerTrial.Report) {
        printInitLines()  // a plugin refused by its init said why here, maybe
        switch report.outcome {
        case .success:
            line("outcome", "success")
        case .retry(let reason, let delay):
            line("outcome", "retry: \(reason)")
            line("delay", delay.map { "\($0.configText), as the handler asked" } ?? "none asked; the retry policy's backoff decides")
        case .discard(let reason):
            line("outcome", "discard: \(reason)")
        case .crashed(let reason):
            line("outcome", "crash: \(reason)")
        case .timedOut(let reason):
            line("outcome", "timeout: \(reason)")
        case .refused(let reason):
            line("outcome", "refused: \(reason)")
        }
        if let result = report.result { line("result", result) }
        if let runTime = report.runTime { line("run time", runTimeText(runTime)) }
        fflush(nil)
    }

    private mutating func printInitLines() {
        for log in initLines { line("init", "\(log.level): \(log.message)") }
        initLines = []
    }

    private func line(_ label: String, _ text: String) {
        print(label.padding(toLength: 10, withPad: " ", startingAt: 0) + text)
    }
}

/// `0.41 ms`, `12.3 ms`, `2.05 s`.
func runTimeText(_ duration: Duration) -> String {
    let milliseconds = Double(duration.inMicroseconds) / 1000
    if milliseconds < 10 { return String(format: "%.2f ms", milliseconds) }
    if milliseconds < 1000 { return String(format: "%.1f ms", milliseconds) }
    return String(format: "%.2f s", milliseconds / 1000)
}

/// `host try --json`: the request and the report as one object. The result and the payloads of
/// enqueued jobs are JSON values, not strings, so that `jq .result.sum` works.
func printTrialJSON(request: TrialRequest?, report: HandlerTrial.Report, handler: String? = nil) throws {
    let (outcome, error, delay): (String, String?, Int64?) = switch report.outcome {
    case .success: ("success", nil, nil)
    case .retry(let reason, let delay): ("retry", reason, delay?.inMilliseconds)
    case .discard(let reason): ("discard", reason, nil)
    case .crashed(let reason): ("crash", reason, nil)
    case .timedOut(let reason): ("timeout", reason, nil)
    case .refused(let reason): ("refused", reason, nil)
    }
    try printJSON(TrialJSON(
        handler: request?.handler ?? handler ?? "", isolation: "process",
        plugin: report.plugin.map { .init(name: $0.name, version: $0.version, abi: $0.abi, path: $0.path) },
        job: request.map {
            .init(id: $0.jobID, queue: $0.queue, attempt: $0.attempt, maxAttempts: $0.maxAttempts, timeoutMs: $0.timeoutMilliseconds)
        },
        outcome: outcome, error: error, retryDelayMs: delay, result: report.result.map(JSONText.init),
        logs: report.logs.map { .init(level: $0.level, message: $0.message, fromInit: $0.fromInit) },
        enqueued: report.enqueued.map {
            .init(
                id: $0.id, handler: $0.handler, queue: $0.queue, payload: JSONText($0.payload), delayMs: $0.delayMilliseconds,
                uniqueKey: $0.uniqueKey, maxAttempts: $0.maxAttempts)
        },
        runTimeUs: report.runTime?.inMicroseconds))
}

/// What `host try --json` prints; nil fields are written as null, so every key is always there.
private struct TrialJSON: Encodable {
    struct Plugin: Encodable {
        let name, version, abi, path: String
    }
    // Keys spelled out, not converted by the encoder: the JSON values inside keep their own keys.
    struct Job: Encodable {
        let id, queue: String
        let attempt, maxAttempts: Int
        let timeoutMs: Int64
        enum CodingKeys: String, CodingKey {
            case id, queue, attempt, maxAttempts = "max_attempts", timeoutMs = "timeout_ms"
        }
    }
    struct Log: Encodable {
        let level, message: String
        let fromInit: Bool
        enum CodingKeys: String, CodingKey {
            case level, message, fromInit = "from_init"
        }
    }
    struct Enqueued: Encodable {
        let id, handler, queue: String
        let payload: JSONText
        let delayMs: Int64
        let uniqueKey: String?
        let maxAttempts: Int
        enum CodingKeys: String, CodingKey {
            case id, handler, queue, payload, delayMs = "delay_ms", uniqueKey = "unique_key", maxAttempts = "max_attempts"
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(handler, forKey: .handler)
            try container.encode(queue, forKey: .queue)
            try container.encode(payload, forKey: .payload)
            try container.encode(delayMs, forKey: .delayMs)
            try container.encode(uniqueKey, forKey: .uniqueKey)  // null, not left out
            try container.encode(maxAttempts, forKey: .maxAttempts)
        }
    }
    let handler, isolation: String
    let plugin: Plugin?
    let job: Job?
    let outcome: String
    let error: String?
    let retryDelayMs: Int64?
    let result: JSONText?
    let logs: [Log]
    let enqueued: [Enqueued]
    let runTimeUs: Int64?

    enum CodingKeys: String, CodingKey {
        case handler, isolation, plugin, job, outcome, error, retryDelayMs = "retry_delay_ms", result, logs, enqueued, runTimeUs = "run_time_us"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(handler, forKey: .handler)
        try container.encode(isolation, forKey: .isolation)
        try container.encode(plugin, forKey: .plugin)
        try container.encode(job, forKey: .job)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(error, forKey: .error)
        try container.encode(retryDelayMs, forKey: .retryDelayMs)
        try container.encode(result, forKey: .result)
        try container.encode(logs, forKey: .logs)
        try container.encode(enqueued, forKey: .enqueued)
        try container.encode(runTimeUs, forKey: .runTimeUs)
    }
}

/// JSON text written as the value it spells (text that is not JSON, as a string).
enum JSONText: Codable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONText])
    case object([String: JSONText])

    init(_ text: String) {
        self = (try? JSONDecoder().decode(JSONText.self, from: Data(text.utf8))) ?? .string(text)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONText].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONText].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
