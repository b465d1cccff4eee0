import Backend
import HostDomain
import PluginHost

/// One line a worker writes to its supervisor on the report pipe. Text, tab-separated, one message per
/// line, so the crash lines can be written by a signal handler in C (see `worker_support.h`).
///
/// A worker numbers the jobs it holds; the lines about a job after the first carry only its number,
/// so the supervisor reads them without making a string (they come four to a job, at tens of
/// thousands of jobs a second).
///
/// Queue and handler names never hold tabs or newlines (the config refuses them); job ids and lease
/// tokens are the backend's own, without either.
enum WorkerReport: Equatable {
    /// About to load this plugin: a crash before the next line is this plugin's.
    case loading(plugin: String)
    /// About to take this step of loading the plugin named by the last `loading` line, from this file
    /// (empty before the file is found): a crash or a hang before the next line is this step's.
    case stage(PluginLoadStage, path: String)
    /// Plugins loaded; the worker takes jobs from now on.
    case ready
    /// What loading the plugins found, as one line of JSON (a worker started to survey the plugins
    /// exits after this line).
    case survey(json: String)
    /// Leased by the worker.
    case held(HeldJob)
    /// Its handler started; it must end within `timeoutMilliseconds` of now.
    case started(number: Int, timeoutMilliseconds: Int)
    /// Its handler returned.
    case returned(number: Int)
    /// No longer held by the worker: its outcome recorded (and what it was), or handed back.
    case letGo(number: Int, run: Run?)
    /// What a worker started by `host try` tells, as one line of JSON (a ``TrialEvent``).
    case trial(json: String)
    /// Written by the crash reporter: the handler of `jobID` raised this fatal signal.
    case crashedBySignal(signal: Int32, jobID: String)
    /// Written by the crash reporter: the handler of `jobID` called `exit(status)`.
    case exitedInHandler(status: Int32, jobID: String)

    /// How a run ended, as the pipe carries it: the supervisor knows the rest of the job from its
    /// `held` line.
    struct Run: Equatable {
        var result: FinishedJob.Result
        var timedOut = false
        var crashed = false
        var runTime: Duration?
        var error: String?

        init(result: FinishedJob.Result, timedOut: Bool = false, crashed: Bool = false, runTime: Duration? = nil, error: String? = nil) {
            self.result = result
            self.timedOut = timedOut
            self.crashed = crashed
            self.runTime = runTime
            self.error = error
        }

        init(_ job: FinishedJob) {
            self.init(result: job.result, timedOut: job.timedOut, crashed: job.crashed, runTime: job.runTime, error: job.error)
        }

        func finished(_ job: HeldJob) -> FinishedJob {
            FinishedJob(
                queue: job.lease.queue, handler: job.handler, jobID: job.lease.jobID, attempt: job.attempt, result: result,
                timedOut: timedOut, crashed: crashed, runTime: runTime, error: error)
        }
    }

    /// What the supervisor keeps of a held job: enough to settle it if the worker dies.
    struct HeldJob: Equatable {
        /// The worker's number for the job, used by the lines that follow.
        var number: Int
        var lease: Lease
        var handler: String
        var attempt: Int
        var maxAttempts: Int
        var crashes: Int
    }

    /// Appends the line, newline included.
    func write(to buffer: inout [UInt8]) {
        switch self {
        case .started(let number, let timeout):
            buffer.append(UInt8(ascii: "S"))
            Self.appendField(number, to: &buffer)
            Self.appendField(timeout, to: &buffer)
        case .returned(let number):
            buffer.append(UInt8(ascii: "D"))
            Self.appendField(number, to: &buffer)
        case .letGo(let number, let run):
            buffer.append(UInt8(ascii: "E"))
            Self.appendField(number, to: &buffer)
            if let run { Self.append(run, to: &buffer) }
        case .held(let job):
            buffer.append(UInt8(ascii: "H"))
            Self.appendField(job.number, to: &buffer)
            Self.appendText(job.lease.queue, to: &buffer)
            Self.appendText(job.lease.jobID, to: &buffer)
            Self.appendText(job.lease.token, to: &buffer)
            Self.appendText(job.handler, to: &buffer)
            Self.appendField(job.attempt, to: &buffer)
            Self.appendField(job.maxAttempts, to: &buffer)
            Self.appendField(job.crashes, to: &buffer)
        default:
            buffer.append(contentsOf: textLine.utf8)
            return
        }
        buffer.append(UInt8(ascii: "\n"))
    }

    private var textLine: String {
        switch self {
        case .loading(let plugin): "L\t\(plugin)\n"
        case .stage(let stage, let path): "T\t\(stage.rawValue)\t\(Self.escaped(path))\n"
        case .ready: "R\n"
        case .survey(let json): "P\t\(json.replacing("\n", with: " "))\n"
        case .trial(let json): "J\t\(json.replacing("\n", with: " "))\n"
        case .crashedBySignal(let signal, let id): "C\t\(signal)\t\(id)\n"
        case .exitedInHandler(let status, let id): "X\t\(status)\t\(id)\n"
        case .started, .returned, .letGo, .held: ""  // written byte by byte in write(to:)
        }
    }

    /// Parses one line (without its newline); nil for a line that is not a report.
    init?(line: ArraySlice<UInt8>) {
        guard let tag = line.first else { return nil }
        switch tag {
        case UInt8(ascii: "S"), UInt8(ascii: "D"), UInt8(ascii: "E"), UInt8(ascii: "H"):
            let fields = Self.fields(of: line)
            func number(_ index: Int) -> Int? { Self.integer(line[fields[index]]) }
            func text(_ index: Int) -> String { String(decoding: line[fields[index]], as: UTF8.self) }
            switch (tag, fields.count) {
            case (UInt8(ascii: "S"), 2):
                guard let job = number(0), let timeout = number(1) else { return nil }
                self = .started(number: job, timeoutMilliseconds: timeout)
            case (UInt8(ascii: "D"), 1):
                guard let job = number(0) else { return nil }
                self = .returned(number: job)
            case (UInt8(ascii: "E"), 1):
                guard let job = number(0) else { return nil }
                self = .letGo(number: job, run: nil)
            case (UInt8(ascii: "E"), 4), (UInt8(ascii: "E"), 5):
                guard let job = number(0), let flags = number(2), let micros = number(3) else { return nil }
                let result: FinishedJob.Result
                switch line[fields[1]].first {
                case UInt8(ascii: "s"): result = .succeeded
                case UInt8(ascii: "r"): result = .retried
                case UInt8(ascii: "d"): result = .dead
                default: return nil
                }
                self = .letGo(number: job, run: Run(
                    result: result, timedOut: flags & 1 != 0, crashed: flags & 2 != 0, runTime: micros < 0 ? nil : .microseconds(micros),
                    error: fields.count == 5 ? text(4) : nil))
            case (UInt8(ascii: "H"), 8):
                guard let job = number(0), let attempt = number(5), let maxAttempts = number(6), let crashes = number(7) else { return nil }
                self = .held(HeldJob(
                    number: job, lease: Lease(queue: text(1), jobID: text(2), token: text(3)), handler: text(4), attempt: attempt,
                    maxAttempts: maxAttempts, crashes: crashes))
            default: return nil
            }
        default:
            self.init(text: String(decoding: line, as: UTF8.self))
        }
    }

    /// The ranges of the tab-separated fields after the tag.
    private static func fields(of line: ArraySlice<UInt8>) -> [Range<Int>] {
        var fields: [Range<Int>] = []
        fields.reserveCapacity(8)
        var start: Int?
        for index in line.indices.dropFirst() {
            if line[index] == UInt8(ascii: "\t") {
                if let begun = start { fields.append(begun..<index) }
                start = index + 1
            }
        }
        if let begun = start { fields.append(begun..<line.endIndex) }
        return fields
    }

    private init?(text: String) {
        let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard let tag = fields.first else { return nil }
        switch (tag, fields.count) {
        case ("L", 2): self = .loading(plugin: fields[1])
        case ("T", 3):
            guard let stage = PluginLoadStage(rawValue: fields[1]), let path = Self.unescaped(fields[2]) else { return nil }
            self = .stage(stage, path: path)
        case ("R", 1): self = .ready
        case ("P", 2): self = .survey(json: fields[1])
        case ("J", 2): self = .trial(json: fields[1])
        case ("C", 3):
            guard let signal = Int32(fields[1]) else { return nil }
            self = .crashedBySignal(signal: signal, jobID: fields[2])
        case ("X", 3):
            guard let status = Int32(fields[1]) else { return nil }
            self = .exitedInHandler(status: status, jobID: fields[2])
        default: return nil
        }
    }

    /// A file name may hold any byte but NUL and `/`: tabs, newlines and backslashes are written as
    /// `\t`, `\n`, `\r` and `\\`, so the path stays one field of one line.
    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// The text `escaped` wrote; nil for a lone or unknown escape.
    static func unescaped(_ text: String) -> String? {
        var out = ""
        var escaping = false
        for character in text.unicodeScalars {
            if escaping {
                switch character {
                case "\\": out += "\\"
                case "t": out += "\t"
                case "n": out += "\n"
                case "r": out += "\r"
                default: return nil
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.unicodeScalars.append(character)
            }
        }
        return escaping ? nil : out
    }

    /// Result, flags, run time in microseconds (-1: none) and, for a failure, its error (one line, cut
    /// to a length fit for a log line or an alert).
    private static func append(_ outcome: Run, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\t"))
        switch outcome.result {
        case .succeeded: buffer.append(UInt8(ascii: "s"))
        case .retried: buffer.append(UInt8(ascii: "r"))
        case .dead: buffer.append(UInt8(ascii: "d"))
        }
        appendField((outcome.timedOut ? 1 : 0) | (outcome.crashed ? 2 : 0), to: &buffer)
        appendField(outcome.runTime.map { Int($0.inMicroseconds) } ?? -1, to: &buffer)
        guard let error = outcome.error else { return }
        buffer.append(UInt8(ascii: "\t"))
        var cut = error.utf8.prefix(Self.errorLimit)
        // Not in the middle of a character: drop the continuation bytes of one cut short.
        if cut.count < error.utf8.count {
            while let last = cut.last, last & 0xC0 == 0x80 { cut = cut.dropLast() }
            if let last = cut.last, last & 0x80 != 0 { cut = cut.dropLast() }
        }
        for byte in cut {
            buffer.append(byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") ? UInt8(ascii: " ") : byte)
        }
    }

    /// Bytes of a job's error carried in its report; the backend keeps the whole of it.
    static let errorLimit = 500

    private static func appendText(_ text: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\t"))
        buffer.append(contentsOf: text.utf8)
    }

    private static func appendField(_ value: Int, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\t"))
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let first = buffer.count
        repeat {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        buffer[first...].reverse()
    }

    private static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        var negative = false
        var sawDigit = false
        for (offset, byte) in bytes.enumerated() {
            if offset == 0, byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            sawDigit = true
        }
        guard sawDigit else { return nil }
        return negative ? -value : value
    }
}
