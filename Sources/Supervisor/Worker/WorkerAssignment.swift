import Foundation
import Glibc
import HostConfig

/// What a worker process is asked to do: the one contract between a supervisor and the workers it
/// starts. The supervisor encodes it on the worker's control pipe, before the config text; the worker
/// decodes it there. Nothing travels on the command line but a label for `ps`.
public struct WorkerAssignment: Codable, Sendable, Equatable {
    /// The config file the supervisor read (for messages and relative paths; the text comes on the pipe).
    public var configFile: String
    /// Queue name → handler slots this worker runs for it.
    public var slots: [String: Int]
    /// Survey the plugins and exit, instead of running jobs.
    public var surveyOnly: Bool
    /// The worker exits if its parent is another process.
    public var supervisorPID: pid_t
    /// Resident memory (bytes) past which the supervisor recycles the worker; allocations past twice
    /// it fail in the worker.
    public var memoryLimit: Int?
    /// Handler calls after which the worker recycles itself.
    public var maxJobs: Int?
    /// How the supervisor's logs call this worker (`<queue>.<n>`).
    public var name: String
    /// Plugins a survey leaves out (refused by an earlier survey: they crashed, exited or hung it).
    public var skipped: [String]
    /// A survey logs what the loader does; otherwise it logs only critical problems.
    public var verbose: Bool
    /// The log format the supervisor resolved (`text` or `json`), so that `host run --log-format` and
    /// `auto` reach every worker's lines too.
    public var logFormat: String
    /// What the lease owner ids of this host's run start with (`HostIdentity.leasePrefix`); empty for none.
    public var leaseOwnerPrefix: String
    /// Run this one job (`host try`) instead of serving queues: load its plugin, call the handler once, exit.
    public var trial: TrialRequest?
    /// The plugins to load at start (the config's others stay unmapped); nil loads every one (a survey,
    /// a worker of a supervisor that has no survey).
    public var plugins: [String]?
    /// Handler → plugin, for the surveyed plugins this worker does not load at start: a job of one of
    /// them that reaches its queue anyway (enqueued with an explicit queue) loads the plugin then.
    public var onDemand: [String: String]

    public init(
        configFile: String, slots: [String: Int] = [:], surveyOnly: Bool = false, supervisorPID: pid_t = getpid(),
        memoryLimit: Int? = nil, maxJobs: Int? = nil, name: String = "worker", skipped: [String] = [], verbose: Bool = false,
        logFormat: HostSettings.LogFormat = .text, leaseOwnerPrefix: String = "", trial: TrialRequest? = nil,
        plugins: [String]? = nil, onDemand: [String: String] = [:]
    ) {
        self.configFile = configFile
        self.slots = slots
        self.surveyOnly = surveyOnly
        self.supervisorPID = supervisorPID
        self.memoryLimit = memoryLimit
        self.maxJobs = maxJobs
        self.name = name
        self.skipped = skipped
        self.verbose = verbose
        self.logFormat = logFormat.rawValue
        self.leaseOwnerPrefix = leaseOwnerPrefix
        self.trial = trial
        self.plugins = plugins
        self.onDemand = onDemand
    }

    /// The lease owner id of the worker process `pid` running this assignment: its name and PID, so the
    /// jobs it leased can be taken back once it has died, without touching its successor's. Empty when
    /// the host records no owners.
    public func leaseOwner(pid: pid_t) -> String {
        leaseOwnerPrefix.isEmpty ? "" : "\(leaseOwnerPrefix)\(name)-\(pid)"
    }

    /// The arguments a worker is started with, after the executable: the hidden command and a label
    /// that tells workers apart in `ps`.
    var arguments: [String] { ["worker", surveyOnly ? "survey" : trial != nil ? "try" : name] }

    /// What the worker's control pipe starts with: this assignment, then the config text, each as
    /// "<byte count>\n<bytes>".
    func handshake(configText: String) -> Data {
        let assignment = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        return Self.frame(assignment) + Self.frame(Data(configText.utf8))
    }

    private static func frame(_ bytes: Data) -> Data { Data("\(bytes.count)\n".utf8) + bytes }

    /// Reads one frame of the handshake; nil when the pipe ends first.
    static func readFrame(from fd: Int32) -> Data? {
        var header: [UInt8] = []
        while true {
            guard let byte = readExactly(1, from: fd)?.first else { return nil }
            if byte == UInt8(ascii: "\n") { break }
            header.append(byte)
        }
        guard let count = Int(String(decoding: header, as: UTF8.self)), count >= 0 else { return nil }
        return readExactly(count, from: fd)
    }

    /// Plain read(2): no buffering past what the handshake holds, so the commands that follow on the
    /// same pipe are left for the control watcher.
    private static func readExactly(_ count: Int, from fd: Int32) -> Data? {
        guard count > 0 else { return Data() }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { return nil }
            filled += got
        }
        return Data(bytes)
    }
}
