import Backend
import Foundation

/// `host jobs show` for people: the job's fields, then its attempt history as a table.
enum JobReport {
    static func rendered(_ job: JobInfo) -> String {
        let time = ISO8601DateFormatter()
        time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var fields: [(String, String)] = [
            ("id", job.id), ("queue", job.queue), ("handler", job.handler), ("state", job.state.rawValue),
            ("attempt", "\(job.attempt) of \(job.maxAttempts)"), ("enqueued", time.string(from: job.enqueuedAt)),
        ]
        if let updated = job.updatedAt { fields.append(("updated", time.string(from: updated))) }
        if let key = job.uniqueKey { fields.append(("unique key", key)) }
        if let origin = job.origin { fields.append(("origin", origin)) }
        if job.crashes > 0 { fields.append(("crashes", "\(job.crashes)")) }
        if job.progress != nil || job.note != nil {
            let percent = job.progress.map { "\(Int(($0 * 100).rounded()))%" }
            fields.append(("progress", [percent, job.note].compactMap { $0 }.joined(separator: " ")))
        }
        if let error = job.lastError { fields.append(("last error", error)) }
        if let result = job.result { fields.append(("result", result)) }
        fields.append(("payload", job.payload))
        let width = fields.map(\.0.count).max() ?? 0
        var lines = fields.map { name, value in
            (name + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + "  " + oneLine(value, limit: 200)
        }
        lines.append("")
        guard !job.attempts.isEmpty else {
            lines.append("No runs recorded yet.")
            return lines.joined(separator: "\n")
        }
        lines.append("Runs, oldest first (the last \(JobAttempt.limit) are kept):")
        var table = TextTable(headers: ["#", "OUTCOME", "HOST", "WORKER", "STARTED", "RAN", "ERROR"])
        for attempt in job.attempts {
            table.rows.append([
                "\(attempt.number)", attempt.outcomeText, attempt.host ?? "-", attempt.worker ?? "-", time.string(from: attempt.startedAt),
                seconds(attempt.runSeconds), attempt.error.map { oneLine($0, limit: 80) } ?? "-",
            ])
        }
        lines.append(table.rendered)
        return lines.joined(separator: "\n")
    }

    /// `0.012s`, `3.4s`, `2m05s`.
    static func seconds(_ value: Double) -> String {
        if value < 10 { return String(format: "%.3fs", value) }
        if value < 60 { return String(format: "%.1fs", value) }
        let whole = Int(value.rounded())
        return whole < 3600 ? String(format: "%ldm%02lds", whole / 60, whole % 60) : String(format: "%ldh%02ldm", whole / 3600, whole / 60 % 60)
    }

    /// Newlines and tabs as spaces, cut to `limit` characters with an ellipsis.
    private static func oneLine(_ text: String, limit: Int) -> String {
        let flat = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
    }
}
