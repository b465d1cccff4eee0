import Backend
import Durations
import Foundation
import RedisClient

/// Cancelling, bulk-discarding and searching jobs (``RedisScripts/cancel``,
/// ``RedisScripts/discardPending``, ``RedisScripts/search``).
extension RedisBackend {
    /// One script call. A job in a state jobhost does not know is `.corrupt`.
    public func cancel(queue: String, id: String) throws(BackendError) -> CancelOutcome {
        let script = RedisScripts.cancel
        var command = script.call(key: try key(queue))
        guard !id.isEmpty else { return .notFound }
        command.append(id)
        guard let answer = try run(script, command).text else { throw Self.malformed(script) }
        switch answer {
        case "cancelled": return .cancelled
        case "missing": return .notFound
        case "running": return .running
        case let other:
            guard let state = JobState(rawValue: other) else {
                throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(other)\" in Redis")
            }
            return .settled(state)
        }
    }

    /// One script call per batch, looking at `limit` ids of the `ready` list (newest first) or the
    /// `scheduled` set (latest due first). On Redis a scheduled job counts as scheduled until a fetch
    /// moves it to ready, even once due.
    public func discardPending(
        queue: String, _ selection: PendingSelection, from cursor: PendingCursor, limit: Int
    ) throws(BackendError) -> PendingDiscardBatch {
        try selection.check()
        let script = RedisScripts.discardPending
        var command = script.call(key: try key(queue))
        command.append(selection.state.rawValue)
        command.append(max(0, cursor.position))
        command.append(max(1, limit))
        command.append(selection.olderThan.map { String($0.roundedUpMilliseconds) } ?? "")
        command.append(selection.handler ?? "")
        guard let answer = try run(script, command).array, answer.count == 3, let discarded = answer[0].int,
              let next = answer[1].int, let more = answer[2].int
        else { throw Self.malformed(script) }
        return PendingDiscardBatch(discarded: discarded, next: more == 1 ? PendingCursor(position: next) : nil)
    }

    /// A job whose id is the text is looked up directly; besides, the newest ``searchScanLimit`` jobs
    /// of each state are read, in script calls of at most 1,000 (each a short stop for Redis, not one
    /// long one), and `truncated` says a state held more. Calls see the queue as it is at each call: a
    /// job moving between states meanwhile may be missed or met twice (it is listed once).
    public func search(queue: String, text: String, limit: Int) throws(BackendError) -> JobSearchResult {
        let script = RedisScripts.search
        let base = try key(queue)
        guard !text.isEmpty else { throw BackendError(.invalid, "search for what? the text is empty") }
        guard limit > 0 else { return JobSearchResult(jobs: [], truncated: false) }
        var found: [String: Int] = [:]
        if let direct = try job(queue: queue, id: text) {
            found[direct.id] = Int(direct.enqueuedAt.timeIntervalSince1970 * 1000)
        }
        var truncated = false
        // `waiting`: ready jobs waiting for a place under their concurrency key.
        for set in ["ready", "waiting", "scheduled", "leases", "done", "dead"] {
            var offset = 0
            var size = 0
            repeat {
                let count = min(1_000, searchScanLimit - offset)
                var command = script.call(key: base)
                command.append(set)
                command.append(offset)
                command.append(count)
                command.append(text)
                guard let answer = try run(script, command).array, answer.count == 2, let total = answer[0].int,
                      let flat = answer[1].array, flat.count % 2 == 0
                else { throw Self.malformed(script) }
                for index in stride(from: 0, to: flat.count, by: 2) {
                    guard let id = flat[index].text else { throw Self.malformed(script) }
                    found[id] = flat[index + 1].int ?? 0
                }
                size = total
                offset += count
            } while offset < min(size, searchScanLimit)
            if size > searchScanLimit { truncated = true }
        }
        let newest = found.sorted { ($0.value, $0.key) > ($1.value, $1.key) }
        var jobs: [JobInfo] = []
        // A match may have gone between the scan and this read: the next one takes its place.
        for (id, _) in newest where jobs.count < limit {
            if let job = try job(queue: queue, id: id) { jobs.append(job) }
        }
        return JobSearchResult(jobs: jobs, truncated: truncated)
    }
}
