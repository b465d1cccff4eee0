import Foundation
import Glibc
import HostConfig
import Logs
import PluginHost

/// Loads the config's plugins in a throwaway worker process and returns what it found, so that a
/// plugin which crashes, exits or hangs while loading (its constructors run inside `dlopen`, then its
/// entry function and `init`) is refused by name instead of taking the asking process down or
/// freezing it.
///
/// The worker writes a line before each plugin and before each step of loading it (see
/// ``WorkerReport/stage(_:path:)``), so when it dies or stops answering, the refusal names the file,
/// the step and how it ended. Each step has `host.plugin_load_timeout`; a worker still in a step
/// then is killed.
public enum PluginSurvey {
    public struct Failure: Error, CustomStringConvertible {
        /// The plugin being loaded when the worker ended, with the file, the step and how it ended;
        /// nil when the worker ended before loading any.
        public var refusal: PluginRefusal?
        /// How the worker ended, for a failure before any plugin.
        public var exit: String
        public var description: String {
            if let refusal { "\(refusal); the host refuses it" } else { "the process loading the plugins \(exit) before loading any" }
        }
    }

    /// Surveys every plugin of `config`: a plugin that ends the worker or hangs it is refused, and the
    /// survey runs again without it, so that every other plugin is still reported. Entries come in
    /// the config's order.
    /// - Parameter verbose: the worker logs what the loader does (on the inherited stderr).
    /// - Throws: ``Failure`` when the worker ends before loading any plugin (a config it cannot read).
    public static func run(executable: String, config: HostConfiguration, configText: String, verbose: Bool = false) throws -> PluginSurveyReport {
        var refused: [PluginRefusal] = []
        while true {
            do {
                let report = try runOnce(
                    executable: executable, configFile: config.file, configText: configText, skipping: refused.map(\.plugin), verbose: verbose,
                    timeLimit: config.host.pluginLoadTimeout)
                let entries = config.plugins.compactMap { plugin in
                    refused.first { $0.plugin == plugin.name }.map(PluginEntry.init(refusal:))
                        ?? report.plugins.first { $0.name == plugin.name }
                }
                return PluginSurveyReport(plugins: entries, searchPaths: report.searchPaths)
            } catch let failure as Failure {
                // The same plugin twice means skipping it did not help: something else ends the worker.
                guard let refusal = failure.refusal, !refused.contains(where: { $0.plugin == refusal.plugin }) else { throw failure }
                refused.append(refusal)
            }
        }
    }

    /// One worker's survey, skipping the plugins named.
    /// - Parameters:
    ///   - skipping: plugins not to load (refused by an earlier survey).
    ///   - timeLimit: how long each step of loading a plugin may take; a worker still in it then is
    ///     killed and the plugin refused as hanging.
    static func runOnce(
        executable: String, configFile: String, configText: String, skipping: [String] = [], verbose: Bool = false,
        timeLimit: Duration = defaultTimeLimit
    ) throws -> PluginSurveyReport {
        let assignment = WorkerAssignment(
            configFile: configFile, surveyOnly: true, skipped: skipping, verbose: verbose, logFormat: HostLogging.resolve(.auto))
        let process = try WorkerProcess(executable: executable, assignment: assignment, configText: configText)
        var progress = SurveyProgress(timeLimit: timeLimit)
        let waitStatus: Int32
        switch progress.follow(process) {
        case .ended(let status):
            waitStatus = status
        case .overdue:
            // A step that never returns: nothing else ends it.
            process.kill()
            _ = process.waitForExit()
            process.closePipes()
            throw progress.failure(end: .hung(limit: progress.limitNow))
        }
        process.closePipes()
        let exit = WorkerExit(waitStatus: waitStatus)
        if exit.isClean, let json = progress.surveyJSON {
            return try JSONDecoder().decode(PluginSurveyReport.self, from: Data(json.utf8))
        }
        throw progress.failure(end: exit.processEnd)
    }

    /// How long each step of loading a plugin may take when no config says (`host.plugin_load_timeout`).
    public static let defaultTimeLimit = Duration.seconds(5)

    /// How long a survey worker may take to start and read its config before its first plugin: a
    /// spawn is not plugin code, and on a loaded machine it can take seconds.
    static let startLimit = Duration.seconds(30)
}

/// What a survey worker has said so far: the plugin it loads, the step it is in, since when.
struct SurveyProgress {
    let timeLimit: Duration
    var plugin: String?
    var stage: PluginLoadStage?
    var path = ""
    var since = ContinuousClock.now
    var surveyJSON: String?
    private var partial: [UInt8] = []

    init(timeLimit: Duration) {
        self.timeLimit = timeLimit
    }

    enum Outcome {
        /// The worker exited; its wait status.
        case ended(Int32)
        /// The step under way ran past its limit; the worker still runs.
        case overdue
    }

    /// The limit of the step under way: starting up before the first plugin is not bounded by the
    /// plugins' limit.
    var limitNow: Duration { plugin == nil ? max(timeLimit, PluginSurvey.startLimit) : timeLimit }

    /// Reads the worker's lines until it exits or the step under way runs past its limit.
    ///
    /// The worker's exit is watched, not only its pipe: a process a plugin forked may hold the pipe
    /// open after the worker is gone, and a plugin may close it and go on.
    mutating func follow(_ process: WorkerProcess) -> Outcome {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var pipeOpen = true
        while true {
            if let status = process.exitStatusIfEnded() {
                if pipeOpen { drain(process, into: &buffer) }
                return .ended(status)
            }
            let left = since + limitNow - .now
            if left <= .zero { return .overdue }
            let wait = Int32(clamping: min(left, .milliseconds(250)).roundedUpMilliseconds)
            guard pipeOpen else {
                _ = poll(nil, 0, wait)
                continue
            }
            var poller = pollfd(fd: process.reports, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, wait)
            guard ready > 0 else { continue }
            let count = process.readReports(into: &buffer)
            if count > 0 {
                take(buffer[0..<count])
            } else {
                pipeOpen = false
            }
        }
    }

    /// What the pipe still holds once the worker is gone, without waiting for an end of file that a
    /// forked child may keep from coming.
    private mutating func drain(_ process: WorkerProcess, into buffer: inout [UInt8]) {
        while true {
            var poller = pollfd(fd: process.reports, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0, poller.revents & Int16(POLLIN) != 0 else { return }
            let count = process.readReports(into: &buffer)
            guard count > 0 else { return }
            take(buffer[0..<count])
        }
    }

    mutating func take(_ bytes: ArraySlice<UInt8>) {
        partial.append(contentsOf: bytes)
        guard let lastNewline = partial.lastIndex(of: UInt8(ascii: "\n")) else { return }
        for line in partial[...lastNewline].split(separator: UInt8(ascii: "\n")) {
            switch WorkerReport(line: line) {
            case .loading(let name):
                plugin = name
                stage = nil
                path = ""
                since = .now
            case .stage(let step, let file):
                stage = step
                if !file.isEmpty { path = file }
                since = .now
            case .survey(let json):
                surveyJSON = json
            default:
                continue
            }
        }
        partial.removeSubrange(...lastNewline)
    }

    /// The failure for a worker that ended, or was killed, where it is now.
    func failure(end: PluginRefusal.ProcessEnd) -> PluginSurvey.Failure {
        guard let plugin else {
            let exit: String = switch end {
            case .hung(let limit): "did not start within \(limit.configText)"
            case .crashed(let signal): "died (\(signal))"
            case .exited(let status): "exited (exit status \(status))"
            }
            return PluginSurvey.Failure(refusal: nil, exit: exit)
        }
        // Before the first step line the worker is in the host's checks.
        let refusal = PluginRefusal.loadingEnded(plugin: plugin, path: path.isEmpty ? nil : path, stage: stage ?? .checks, end: end)
        return PluginSurvey.Failure(refusal: refusal, exit: "")
    }
}
