import Backend
import Foundation
import RedisClient

/// Run streaks: `{prefix:queue}:run_streaks` (a hash of `handler:<name>` / `schedule:<name>` to failed
/// runs in a row) and the outbox `{prefix:queue}:run_alerts` (a list of JSON entries), both written by
/// the settle, rescue and reclaim scripts in the step that ends a run (``Lua/runStreaks``).
extension RedisBackend: RunStreakStore {
    /// `RPOP` with a count: one atomic command, so each entry goes to one caller.
    public func takeRunAlerts(queue: String, limit: Int) throws(BackendError) -> [RunAlertEntry] {
        guard limit > 0 else { return [] }
        let list = "\(try key(queue)):run_alerts"
        let reply = try withPooledConnection { connection throws(RedisError) in
            try connection.command(["RPOP", list, "\(limit)"])
        }
        if case .error(let message) = reply { throw BackendError(.corrupt, "\(list): \(message)") }
        guard let items = reply.array else { return [] }
        // An entry someone else wrote is logged and dropped: it is off the list already, and the good
        // entries taken with it must not be lost for it.
        return items.compactMap { item in
            let text = item.text ?? ""
            guard let entry = Self.runAlert(text, queue: queue) else {
                logger.error("dropped an entry of the run-alert list that is not a run alert", metadata: [
                    "key": "\(list)", "entry": "\(text.prefix(200))",
                ])
                return nil
            }
            return entry
        }
    }

    public func runStreak(queue: String, _ subject: RunStreakSubject) throws(BackendError) -> Int {
        let hash = "\(try key(queue)):run_streaks"
        let reply = try withPooledConnection { connection throws(RedisError) in
            try connection.command(["HGET", hash, "\(subject.kind):\(subject.name)"])
        }
        return reply.text.flatMap { Int($0) } ?? 0
    }

    /// An entry as ``Lua/runStreaks`` encodes it: `{"event", "kind", "name", "failures", "at"}`, plus
    /// `job`, `handler` and `error` for a failed run.
    static func runAlert(_ text: String, queue: String) -> RunAlertEntry? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let event = (object["event"] as? String).flatMap(RunAlertEntry.Event.init(rawValue:)),
            let kind = object["kind"] as? String, let name = object["name"] as? String,
            let subject = RunStreakSubject(kind: kind, name: name),
            let failures = (object["failures"] as? NSNumber)?.intValue,
            let at = (object["at"] as? NSNumber)?.intValue
        else { return nil }
        return RunAlertEntry(
            event: event, subject: subject, queue: queue, failures: failures, jobID: object["job"] as? String,
            handler: object["handler"] as? String, error: object["error"] as? String, at: date(milliseconds: at))
    }
}
