import Foundation
import Glibc
import HostConfig
import Logs

/// Loads the config's plugins in a throwaway worker process and returns what it found, so that a
/// plugin which crashes, exits or hangs while loading (its constructors and `init` run inside
/// `dlopen`) is reported by name instead of taking the asking process down or freezing it.
public enum PluginSurvey {
    public struct Failure: Error, CustomStringConvertible {
        /// The plugin being loaded when the worker died, if it got that far.
        public var plugin: String?
        public var exit: String
        /// The worker was killed because loading did not finish within the time limit.
        public var hung = false
        public var description: String {
            if let plugin {
                hung
                    ? "plugin '\(plugin)' did not finish loading (\(exit)); the host refuses it"
                    : "plugin '\(plugin)' ended the process loading it (\(exit)); the host refuses it"
            } else {
                "the process loading the plugins ended (\(exit)) before loading any"
            }
        }
    }

    /// - Returns: what the worker found.
    /// - Parameters:
    ///   - skipping: plugins not to load (found to crash by an earlier survey).
    ///   - verbose: the worker logs what the loader does (on the inherited stderr).
    ///   - timeLimit: how long loading may take; a worker still loading then is killed, and the plugin
    ///     it was loading is reported as hanging.
    public static func run(
        executable: String, configFile: String, configText: String, skipping: [String] = [], verbose: Bool = false,
        timeLimit: Duration = defaultTimeLimit
    ) throws -> PluginSurveyReport {
        let assignment = WorkerAssignment(
            configFile: configFile, surveyOnly: true, skipped: skipping, verbose: verbose, logFormat: HostLogging.resolve(.auto))
        let process = try WorkerProcess(executable: executable, assignment: assignment, configText: configText)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeLimit
        var hung = false
        while true {
            let left = deadline - .now
            var poller = pollfd(fd: process.reports, events: Int16(POLLIN), revents: 0)
            let ready = left > .zero ? poll(&poller, 1, Int32(clamping: left.roundedUpMilliseconds)) : 0
            if ready < 0, errno == EINTR { continue }
            if ready == 0 {
                // A constructor, entry function or init that never returns: nothing else ends it.
                hung = true
                process.kill()
                break
            }
            let count = process.readReports(into: &buffer)
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let exit = WorkerExit(waitStatus: process.waitForExit())
        process.closePipes()
        var loading: String?
        for line in received.split(separator: UInt8(ascii: "\n")) {
            switch WorkerReport(line: line) {
            case .loading(let plugin): loading = plugin
            case .survey(let json) where exit.isClean: return try JSONDecoder().decode(PluginSurveyReport.self, from: Data(json.utf8))
            default: continue
            }
        }
        throw Failure(plugin: loading, exit: hung ? "killed after \(timeLimit.configText) still loading" : exit.description, hung: hung)
    }

    /// How long loading the config's plugins may take before the plugin being loaded counts as hanging.
    public static let defaultTimeLimit = Duration.seconds(10)
}
