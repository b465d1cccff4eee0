import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import Logs

/// `host queues`: how much work each queue holds, straight from the backends; pausing and resuming.
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Shows each queue's jobs by state and its counters; pauses and resumes queues.",
        discussion: """
            Without a subcommand, lists the queues (host queues list). A paused queue keeps taking \
            enqueued jobs, but no host starts any of them until it is resumed.
            """,
        subcommands: [List.self, QueuePauseCommand.self, QueueResumeCommand.self],
        defaultSubcommand: List.self)
}

extension QueuesCommand {
    /// `host queues [list]`: the counts of every queue.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows each queue's jobs by state and its counters.",
            discussion: """
                STATUS is active, or paused (host queues pause): hosts start none of its jobs. READY jobs wait \
                to be fetched, RUNNING ones are leased by a host, SCHEDULED ones wait for their run time \
                (delayed or retrying), DEAD ones failed for good and wait for an operator, DONE ones finished \
                and are kept for the queue's retention. PROCESSED and FAILED count successes and failed \
                attempts ever. OLDEST is how long the oldest ready job has waited.
                """)

        @OptionGroup var options: ConfigOptions

        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func run() throws {
            let config = try loadConfig(options)
            let backends = Backends.make(config, logger: CommandLogging.logger(verbose: false))
            var rows: [Row] = []
            for queue in config.queues {
                guard let backend = backends[queue.backend] else {
                    rows.append(Row(queue: queue.name, backend: queue.backend, stats: nil, error: "backend '\(queue.backend)' is not configured"))
                    continue
                }
                do {
                    rows.append(Row(queue: queue.name, backend: queue.backend, stats: try backend.stats(queue: queue.name), error: nil))
                } catch {
                    rows.append(Row(queue: queue.name, backend: queue.backend, stats: nil, error: "\(error)"))
                }
            }
            if json {
                try printJSON(rows)
            } else {
                var table = TextTable(headers: [
                    "QUEUE", "BACKEND", "STATUS", "READY", "RUNNING", "SCHEDULED", "DEAD", "DONE", "PROCESSED", "FAILED", "OLDEST",
                ])
                for row in rows {
                    if let stats = row.stats {
                        table.rows.append([
                            row.queue, row.backend, stats.paused ? "paused" : "active", "\(stats.ready)", "\(stats.running)",
                            "\(stats.scheduled)", "\(stats.dead)", "\(stats.done)", "\(stats.processed)", "\(stats.failed)",
                            stats.oldestReadyAge.map(\.configText) ?? "-",
                        ])
                    } else {
                        table.rows.append([row.queue, row.backend, "-", "-", "-", "-", "-", "-", "-", "-", "error: \(row.error ?? "")"])
                    }
                }
                print(table.rendered)
            }
            if rows.contains(where: { $0.error != nil }) { throw ExitCode(2) }
        }

        struct Row: Encodable {
            let queue: String
            let backend: String
            let stats: QueueStats?
            let error: String?

            enum CodingKeys: String, CodingKey {
                case queue, backend, paused, ready, running, scheduled, dead, done, processed, failed, oldestReadyMs = "oldest_ready_ms", error
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(queue, forKey: .queue)
                try container.encode(backend, forKey: .backend)
                try container.encodeIfPresent(error, forKey: .error)
                guard let stats else { return }
                try container.encode(stats.paused, forKey: .paused)
                try container.encode(stats.ready, forKey: .ready)
                try container.encode(stats.running, forKey: .running)
                try container.encode(stats.scheduled, forKey: .scheduled)
                try container.encode(stats.dead, forKey: .dead)
                try container.encode(stats.done, forKey: .done)
                try container.encode(stats.processed, forKey: .processed)
                try container.encode(stats.failed, forKey: .failed)
                try container.encodeIfPresent(stats.oldestReadyAge?.inMilliseconds, forKey: .oldestReadyMs)
            }
        }
    }
}
