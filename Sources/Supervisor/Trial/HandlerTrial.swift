import Durations
import Foundation
import Glibc
import HostConfig
import Logs

/// Runs one job on one handler in a worker process of its own, with no backend, and tells how it
/// went: `host try`. The worker is started as `host run` starts its workers, so a handler that
/// crashes, exits or overruns its timeout is reported, and the asking process carries on.
public enum HandlerTrial {
    /// How the run ended.
    public enum Outcome: Sendable, Equatable {
        case success
        /// `delay`: what the handler asked for; nil leaves it to the retry policy's backoff.
        case retry(reason: String, delay: Duration?)
        case discard(reason: String)
        /// The handler ended its process (a fatal signal, `exit`), or the process died while loading.
        case crashed(String)
        /// The handler ran past its timeout plus the grace period and its process was killed.
        case timedOut(String)
        /// The plugin was refused or does not offer the handler.
        case refused(String)
    }

    public struct Report: Sendable {
        public var plugin: TrialPlugin?
        public var outcome: Outcome
        /// The JSON the handler set as its result (ABI 1.1).
        public var result: String?
        public var logs: [TrialLogLine]
        public var enqueued: [TrialChainedJob]
        /// How long the handler ran: measured in the worker when it returned, else from its start
        /// until its process ended.
        public var runTime: Duration?

        public init(
            plugin: TrialPlugin?, outcome: Outcome, result: String? = nil, logs: [TrialLogLine] = [], enqueued: [TrialChainedJob] = [],
            runTime: Duration? = nil
        ) {
            self.plugin = plugin
            self.outcome = outcome
            self.result = result
            self.logs = logs
            self.enqueued = enqueued
            self.runTime = runTime
        }
    }

    /// Runs the request and blocks until its worker has ended.
    /// - Parameters:
    ///   - grace: how long past its timeout a handler may run before its process is killed (`host.timeout_grace`).
    ///   - loadTimeLimit: how long loading the plugin may take.
    ///   - verbose: the worker logs what the loader does, on the inherited stderr.
    ///   - onEvent: called with each event as it arrives (to show log lines while the handler runs).
    public static func run(
        executable: String, configFile: String, configText: String, request: TrialRequest, grace: Duration,
        loadTimeLimit: Duration = PluginSurvey.defaultTimeLimit, verbose: Bool = false, onEvent: (TrialEvent) -> Void = { _ in }
    ) throws -> Report {
        let assignment = WorkerAssignment(
            configFile: configFile, name: "try", verbose: verbose, logFormat: HostLogging.resolve(.auto), trial: request)
        let process = try WorkerProcess(executable: executable, assignment: assignment, configText: configText)
        var collected = Collected(plugin: request.plugin)
        var deadline = ContinuousClock.now + loadTimeLimit
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var pending: [UInt8] = []
        var killed = false
        while true {
            let left = deadline - .now
            var poller = pollfd(fd: process.reports, events: Int16(POLLIN), revents: 0)
            let ready = left > .zero ? poll(&poller, 1, Int32(clamping: left.roundedUpMilliseconds)) : 0
            if ready < 0, errno == EINTR { continue }
            if ready == 0 {
                // Loading that never ends, or a handler past its timeout and grace: nothing else stops it.
                process.kill()
                killed = true
                break
            }
            let count = process.readReports(into: &buffer)
            if count == 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[..<newline]
                if let report = WorkerReport(line: line), let event = collected.take(report) {
                    if event == .started { deadline = .now + request.timeout + grace }
                    onEvent(event)
                }
                pending.removeSubrange(...newline)
            }
        }
        let exit = WorkerExit(waitStatus: process.waitForExit())
        process.closePipes()
        return collected.report(exit: exit, killed: killed, request: request, grace: grace, loadTimeLimit: loadTimeLimit)
    }

    /// What the worker's lines said so far.
    private struct Collected {
        /// The plugin being loaded (named by the request until the worker says).
        var plugin: String
        var loaded: TrialPlugin?
        var startedAt: ContinuousClock.Instant?
        var logs: [TrialLogLine] = []
        var enqueued: [TrialChainedJob] = []
        var finish: TrialFinish?
        var refusal: String?
        /// The crash reporter's line: the handler raised a fatal signal or called exit.
        var crash: String?

        init(plugin: String) { self.plugin = plugin }

        mutating func take(_ report: WorkerReport) -> TrialEvent? {
            switch report {
            case .loading(let name):
                plugin = name
            case .crashedBySignal(let signal, _):
                crash = "worker crashed: \(signalName(signal))"
            case .exitedInHandler(let status, _):
                crash = "worker exited: the handler called exit(\(status))"
            case .trial(let json):
                guard let event = try? JSONDecoder().decode(TrialEvent.self, from: Data(json.utf8)) else { return nil }
                switch event {
                case .loaded(let plugin): loaded = plugin
                case .started: startedAt = .now
                case .log(let line): logs.append(line)
                case .enqueued(let job): enqueued.append(job)
                case .finished(let finish): self.finish = finish
                case .refused(let reason): refusal = reason
                }
                return event
            default:
                break
            }
            return nil
        }

        func report(exit: WorkerExit, killed: Bool, request: TrialRequest, grace: Duration, loadTimeLimit: Duration) -> Report {
            var report = Report(plugin: loaded, outcome: .success, logs: logs, enqueued: enqueued)
            if let finish {
                report.result = finish.result
                report.runTime = .microseconds(finish.runTimeMicroseconds)
                switch finish.status {
                case .success: report.outcome = .success
                case .retry: report.outcome = .retry(reason: finish.error ?? "", delay: finish.retryDelayMilliseconds.map { .milliseconds($0) })
                case .discard: report.outcome = .discard(reason: finish.error ?? "")
                }
                return report
            }
            if let refusal {
                report.outcome = .refused(refusal)
                return report
            }
            report.runTime = startedAt.map { .now - $0 }
            if startedAt == nil {
                report.outcome = killed
                    ? .refused("plugin '\(plugin)' did not finish loading within \(loadTimeLimit.configText): a constructor, its entry function or init does not return")
                    : .crashed("plugin '\(plugin)' ended the process loading it (\(exit.description)); a constructor or init of the plugin crashed or exited")
            } else if killed {
                report.outcome = .timedOut(
                    "the handler did not stop within \(grace.configText) of its deadline (\(request.timeout.configText)); its worker was killed")
            } else {
                report.outcome = .crashed(crash ?? "worker ended (\(exit.description)) while the handler ran")
            }
            return report
        }
    }
}
