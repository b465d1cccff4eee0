import Durations
import Foundation

/// One job that `host try` runs, as its worker process is asked to (in the ``WorkerAssignment``).
public struct TrialRequest: Codable, Sendable, Equatable {
    /// The config name of the plugin that offers the handler; the worker loads only this one.
    public var plugin: String
    public var handler: String
    public var payload: Data
    /// The job id the handler sees (its idempotency key).
    public var jobID: String
    /// The queue the handler sees; no backend is involved.
    public var queue: String
    public var attempt: Int
    public var maxAttempts: Int
    /// After this the handler's cancel flag goes up; `host.timeout_grace` later its worker is killed.
    public var timeoutMilliseconds: Int64

    public init(
        plugin: String, handler: String, payload: Data, jobID: String, queue: String, attempt: Int, maxAttempts: Int,
        timeout: Duration
    ) {
        self.plugin = plugin
        self.handler = handler
        self.payload = payload
        self.jobID = jobID
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.timeoutMilliseconds = timeout.inMilliseconds
    }

    public var timeout: Duration { .milliseconds(timeoutMilliseconds) }
}

/// What a trial worker tells `host try`, one report line each, written as it happens: what a handler
/// logged before it crashed still arrives.
public enum TrialEvent: Codable, Sendable, Equatable {
    /// The plugin passed every check and its `init` succeeded.
    case loaded(TrialPlugin)
    /// The handler was called; its timeout runs from now.
    case started
    /// A line the plugin logged, from `init` or from the handler.
    case log(TrialLogLine)
    /// A job the handler asked to enqueue: checked as `host run` would, but not enqueued anywhere.
    case enqueued(TrialChainedJob)
    /// The handler returned.
    case finished(TrialFinish)
    /// The plugin or the handler cannot be run: why.
    case refused(String)

    /// The line's JSON, on one line (the encoder escapes every newline inside strings).
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"refused":{"_0":"unencodable event"}}"#
    }
}

public struct TrialPlugin: Codable, Sendable, Equatable {
    /// The config name.
    public var name: String
    public var version: String
    /// `major.minor` of the ABI the plugin was built against.
    public var abi: String
    public var path: String
}

public struct TrialLogLine: Codable, Sendable, Equatable {
    /// trace, debug, info, notice, warning, error or critical.
    public var level: String
    public var message: String
    /// Logged by the plugin's `init` (with no job), not by the handler.
    public var fromInit: Bool
}

public struct TrialChainedJob: Codable, Sendable, Equatable {
    public var handler: String
    public var queue: String
    public var payload: String
    public var delayMilliseconds: Int64
    public var uniqueKey: String?
    public var maxAttempts: Int
    /// The id the handler was given; no job with it exists anywhere.
    public var id: String
}

/// How the handler returned.
public struct TrialFinish: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case success, retry, discard
    }

    public var status: Status
    /// The error text of a retry or a discard.
    public var error: String?
    /// The delay a retry asked for; nil leaves it to the retry policy's backoff.
    public var retryDelayMilliseconds: Int64?
    /// The JSON the handler set as its result (ABI 1.1), as it set it.
    public var result: String?
    public var runTimeMicroseconds: Int64
}
