import Backend
import Foundation
import Threads

/// What a running host looks like at one moment: what `/health` and `/metrics` report.
public struct HostSnapshot: Sendable, Encodable {
    public var backends: [BackendHealth]
    public var queues: [QueueHealth]
    public var workers: [WorkerHealth]
    public var scheduler: SchedulerHealth

    public enum Status: String, Sendable, Encodable {
        case ok
        /// A backend does not answer, a worker is down, or the scheduler stalled.
        case unhealthy
    }

    public var status: Status { problems.isEmpty ? .ok : .unhealthy }

    enum CodingKeys: String, CodingKey { case status, problems, backends, queues, workers, scheduler }

    /// With its status and problems, which are derived rather than stored.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(problems, forKey: .problems)
        try container.encode(backends, forKey: .backends)
        try container.encode(queues, forKey: .queues)
        try container.encode(workers, forKey: .workers)
        try container.encode(scheduler, forKey: .scheduler)
    }

    public struct BackendHealth: Sendable, Encodable {
        public var name: String
        public var type: String
        public var up: Bool
        /// Why not, secrets masked.
        public var error: String?
        public var latencyMilliseconds: Double?
    }

    public struct QueueHealth: Sendable, Encodable {
        public var name: String
        public var backend: String
        /// nil while its backend does not answer.
        public var stats: QueueStats?
        public var paused: Bool?
        /// Jobs whose handler runs on this host now.
        public var runningHere: Int

        enum CodingKeys: String, CodingKey { case name, backend, jobs, paused, runningHere }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(backend, forKey: .backend)
            try container.encodeIfPresent(stats.map(QueueCounts.init), forKey: .jobs)
            try container.encodeIfPresent(paused, forKey: .paused)
            try container.encode(runningHere, forKey: .runningHere)
        }
    }

    public struct WorkerHealth: Sendable, Encodable {
        public var name: String
        public var queue: String
        /// nil between two lives of the worker.
        public var pid: Int32?
        public var held: Int
        public var running: Int
        public var restarts: Int

        public init(name: String, queue: String, pid: Int32?, held: Int, running: Int, restarts: Int) {
            self.name = name
            self.queue = queue
            self.pid = pid
            self.held = held
            self.running = running
            self.restarts = restarts
        }
    }

    public struct SchedulerHealth: Sendable, Encodable {
        /// Schedules this host fires.
        public var schedules: Int
        /// Seconds since its last pass; nil before the first.
        public var lastPassSecondsAgo: Double?
        public var alive: Bool
    }

    /// Why the host is unhealthy, one line per problem.
    public var problems: [String] {
        var found: [String] = []
        for backend in backends where !backend.up {
            found.append("backend '\(backend.name)' does not answer: \(backend.error ?? "no answer")")
        }
        for worker in workers where worker.pid == nil {
            found.append("worker '\(worker.name)' is not running")
        }
        if !scheduler.alive { found.append("the scheduler has not made a pass for \(Int(scheduler.lastPassSecondsAgo ?? 0)) s") }
        return found
    }
}

/// A queue's counts as the JSON API shows them: durations in seconds.
public struct QueueCounts: Sendable, Encodable {
    public var ready, running, scheduled, dead, done, processed, failed: Int
    public var oldestReadySeconds: Double?

    public init(_ stats: QueueStats) {
        (ready, running, scheduled, dead, done) = (stats.ready, stats.running, stats.scheduled, stats.dead, stats.done)
        (processed, failed) = (stats.processed, stats.failed)
        oldestReadySeconds = stats.oldestReadyAge.map { ($0.seconds * 1000).rounded() / 1000 }
    }
}
