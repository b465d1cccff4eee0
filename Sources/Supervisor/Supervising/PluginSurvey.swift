import Foundation
import Glibc
import Logs

/// Loads the config's plugins in a throwaway worker process and returns what it found, so that a
/// plugin which crashes or exits while loading (its constructors and `init` run inside `dlopen`)
/// is reported by name instead of taking the asking process down.
public enum PluginSurvey {
    public struct Failure: Error, CustomStringConvertible {
        /// The plugin being loaded when the worker died, if it got that far.
        public var plugin: String?
        public var exit: String
        public var description: String {
            if let plugin {
                "plugin '\(plugin)' ended the process loading it (\(exit)); the host refuses it"
            } else {
                "the process loading the plugins ended (\(exit)) before loading any"
            }
        }
    }

    /// - Returns: what the worker found.
    /// - Parameters:
    ///   - skipping: plugins not to load (found to crash by an earlier survey).
    ///   - verbose: the worker logs what the loader does (on the inherited stderr).
    public static func run(
        executable: String, configFile: String, configText: String, skipping: [String] = [], verbose: Bool = false
    ) throws -> PluginSurveyReport {
        let assignment = WorkerAssignment(
            configFile: configFile, surveyOnly: true, skipped: skipping, verbose: verbose, logFormat: HostLogging.resolve(.auto))
        let process = try WorkerProcess(executable: executable, assignment: assignment, configText: configText)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var received: [UInt8] = []
        while true {
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
        throw Failure(plugin: loading, exit: exit.description)
    }
}
