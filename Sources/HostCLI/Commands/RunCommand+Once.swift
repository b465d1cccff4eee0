import ArgumentParser
import Runtime
import ServiceLifecycle
import Threads

/// What `host run --once` prints when it stops: one line, or an object with --json.
struct DrainSummary: Encodable {
    var queues: [String]
    var counts: RunTally.Counts
    /// False when a signal stopped the host before its queues were drained.
    var drained: Bool

    /// Every job it ran ended done, and nothing was cut short.
    var succeeded: Bool { drained && counts.retried == 0 && counts.dead == 0 }

    enum CodingKeys: String, CodingKey { case queues, drained, succeeded, ran, done, retried, dead }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queues, forKey: .queues)
        try container.encode(drained, forKey: .drained)
        try container.encode(succeeded, forKey: .succeeded)
        try container.encode(counts.ran, forKey: .ran)
        try container.encode(counts.done, forKey: .done)
        try container.encode(counts.retried, forKey: .retried)
        try container.encode(counts.dead, forKey: .dead)
    }

    var line: String {
        let ran = "\(counts.ran) \(counts.ran == 1 ? "job" : "jobs") ran: \(counts.done) done, \(counts.retried) failed and scheduled to retry, \(counts.dead) dead"
        return drained
            ? "drained \(queues.joined(separator: ", ")): \(ran)"
            : "stopped by a signal before \(queues.joined(separator: ", ")) drained: \(ran)"
    }

    func print(json: Bool) throws {
        if json { try printJSON(self) } else { Swift.print(line) }
    }
}

extension RunCommand {
    /// Runs `group` until `drain` finds the queues drained, then shuts it down gracefully (the
    /// engines stop as on SIGTERM: nothing is held by then). A signal first ends the group, and the
    /// drain with it.
    /// - Returns: whether the queues were drained (false: a signal came first).
    static func runUntilDrained(_ group: ServiceGroup, _ drain: QueueDrain) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool?.self) { tasks in
            tasks.addTask {
                // Stopped whichever way the group ends, so the drain's thread never outlives it.
                defer { drain.stop() }
                try await group.run()
                return nil
            }
            tasks.addTask {
                let drained = await onOwnThread(name: "jobhost.drain") { drain.wait() }
                if drained { await group.triggerGracefulShutdown() }
                return drained
            }
            var drained = false
            for try await result in tasks {
                if let result { drained = result }
            }
            return drained
        }
    }
}
