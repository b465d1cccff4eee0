import Backend

/// One line a worker writes to its supervisor on the report pipe. Text, tab-separated, one message per
/// line: cheap to write in batches, readable in a hex dump, and the crash lines can be written by a
/// signal handler in C (see `worker_support.h`).
///
/// Queue and handler names never hold tabs or newlines (the config refuses them); job ids and lease
/// tokens are the backend's own, without either.
enum WorkerReport: Equatable {
    /// About to load this plugin: a crash before the next line is this plugin's.
    case loading(plugin: String)
    /// Plugins loaded; the worker takes jobs from now on.
    case ready
    /// What loading the plugins found, as one line of JSON (a worker started to survey the plugins
    /// exits after this line).
    case survey(json: String)
    /// Leased by the worker.
    case held(HeldJob)
    /// Its handler started; it must end within `timeoutMilliseconds` of now.
    case started(jobID: String, timeoutMilliseconds: Int64)
    /// Its handler returned.
    case returned(jobID: String)
    /// No longer held by the worker.
    case letGo(jobID: String)
    /// Written by the crash reporter: the handler of `jobID` raised this fatal signal.
    case crashedBySignal(signal: Int32, jobID: String)
    /// Written by the crash reporter: the handler of `jobID` called `exit(status)`.
    case exitedInHandler(status: Int32, jobID: String)

    /// What the supervisor keeps of a held job: enough to settle it if the worker dies.
    struct HeldJob: Equatable {
        var lease: Lease
        var handler: String
        var attempt: Int
        var maxAttempts: Int
        var crashes: Int
    }

    var line: String {
        switch self {
        case .loading(let plugin): "L\t\(plugin)\n"
        case .ready: "R\n"
        case .survey(let json): "P\t\(json.replacing("\n", with: " "))\n"
        case .held(let job):
            "H\t\(job.lease.queue)\t\(job.lease.jobID)\t\(job.lease.token)\t\(job.handler)\t\(job.attempt)\t\(job.maxAttempts)\t\(job.crashes)\n"
        case .started(let id, let timeout): "S\t\(id)\t\(timeout)\n"
        case .returned(let id): "D\t\(id)\n"
        case .letGo(let id): "E\t\(id)\n"
        case .crashedBySignal(let signal, let id): "C\t\(signal)\t\(id)\n"
        case .exitedInHandler(let status, let id): "X\t\(status)\t\(id)\n"
        }
    }

    /// Parses one line (without its newline); nil for a line that is not a report.
    init?(line: Substring) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard let tag = fields.first else { return nil }
        switch (tag, fields.count) {
        case ("L", 2): self = .loading(plugin: fields[1])
        case ("R", 1): self = .ready
        case ("P", 2): self = .survey(json: fields[1])
        case ("H", 8):
            guard let attempt = Int(fields[5]), let maxAttempts = Int(fields[6]), let crashes = Int(fields[7]) else { return nil }
            self = .held(HeldJob(
                lease: Lease(queue: fields[1], jobID: fields[2], token: fields[3]), handler: fields[4], attempt: attempt,
                maxAttempts: maxAttempts, crashes: crashes))
        case ("S", 3):
            guard let timeout = Int64(fields[2]) else { return nil }
            self = .started(jobID: fields[1], timeoutMilliseconds: timeout)
        case ("D", 2): self = .returned(jobID: fields[1])
        case ("E", 2): self = .letGo(jobID: fields[1])
        case ("C", 3):
            guard let signal = Int32(fields[1]) else { return nil }
            self = .crashedBySignal(signal: signal, jobID: fields[2])
        case ("X", 3):
            guard let status = Int32(fields[1]) else { return nil }
            self = .exitedInHandler(status: status, jobID: fields[2])
        default: return nil
        }
    }
}
