import Backend
import Foundation
import RedisClient

/// Schedule fires: the last fire of each schedule lives in the `{prefix:queue}:schedules` hash of
/// the queue its jobs go to (`<fire ms> <job id>`), and its last ``ScheduleFire/kept`` fires in the
/// `{prefix:queue}:fire_history:<schedule>` list, both written by the same script that enqueues the job.
/// An operator's switch lives beside it in `{prefix:queue}:schedule_switches` (`off <ms>` or
/// `on <ms>`), which that script reads in the same atomic step.
extension RedisBackend: ScheduleStore {
    public func now() throws(BackendError) -> Date {
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["TIME"]) }
        guard let parts = reply.array, parts.count == 2, let seconds = parts[0].text.flatMap(Int.init),
            let micros = parts[1].text.flatMap(Int.init)
        else { throw BackendError(.server, "TIME gave an unexpected reply") }
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    public func claimFire(schedule: String, at fireTime: Date, job: NewJob, overlap: FireOverlap) throws(BackendError) -> FireClaim {
        try job.checkStorable()
        let script = RedisScripts.claimFire
        var command = script.call(key: try key(job.queue))
        command.append(job.queue)
        command.append(schedule)
        command.append(Int(fireTime.timeIntervalSince1970 * 1000))
        command.append(overlap.rawValue)
        command.append(job: job)
        // The raw reply: an EARLY error is an answer here, not a failure of the connection.
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.evaluate([(script, command)])[0] }
        if case .error(let message) = reply, message.hasPrefix("EARLY") {
            throw BackendError(.invalid, "schedule \(schedule): fire time \(fireTime) is ahead of the Redis clock")
        }
        guard let ids = try Self.checked(reply, script).array else { throw Self.malformed(script) }
        guard let id = ids.first?.text else { return .notFired }
        return ids.count == 2 ? .skipped(previous: id) : .fired(id)
    }

    public func lastFire(schedule: String, queue: String) throws(BackendError) -> (fireTime: Date, jobID: String)? {
        let hash = "\(try key(queue)):schedules"
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["HGET", hash, schedule]) }
        guard let text = reply.text else { return nil }
        let parts = text.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let milliseconds = Int(parts[0]) else {
            throw BackendError(.corrupt, "\(hash) field \(schedule) holds \"\(text)\", not \"<fire ms> <job id>\"")
        }
        return (Self.date(milliseconds: milliseconds), String(parts[1]))
    }

    /// The `{prefix:queue}:fire_history:<schedule>` list, newest first, which the claim script pushes.
    public func recentFires(schedule: String, queue: String, limit: Int) throws(BackendError) -> [ScheduleFire] {
        guard limit > 0 else { return [] }
        let list = "\(try key(queue)):fire_history:\(schedule)"
        let count = min(limit, ScheduleFire.kept)
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["LRANGE", list, "0", "\(count - 1)"]) }
        guard let items = reply.array else { throw BackendError(.corrupt, "\(list) is not a list") }
        return try items.map { item throws(BackendError) in
            let text = item.text ?? ""
            let parts = text.split(separator: " ")
            guard parts.count == 2 || (parts.count == 3 && parts[2] == "skipped"), let milliseconds = Int(parts[0]) else {
                throw BackendError(.corrupt, "\(list) holds \"\(text)\", not \"<fire ms> <job id>\" or \"<fire ms> <job id> skipped\"")
            }
            return ScheduleFire(fireTime: Self.date(milliseconds: milliseconds), jobID: String(parts[1]), skipped: parts.count == 3)
        }
    }

    public func setDisabled(schedule: String, queue: String, _ disabled: Bool) throws(BackendError) {
        try Self.validate(schedule: schedule)
        let script = RedisScripts.setScheduleSwitch
        var command = script.call(key: try key(queue))
        command.append(schedule)
        command.append(disabled ? 1 : 0)
        guard try run(script, command).int != nil else { throw Self.malformed(script) }
    }

    public func scheduleSwitch(schedule: String, queue: String) throws(BackendError) -> ScheduleSwitch {
        let hash = "\(try key(queue)):schedule_switches"
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["HGET", hash, schedule]) }
        guard let text = reply.text else { return ScheduleSwitch() }
        let parts = text.split(separator: " ")
        guard parts.count == 2, parts[0] == "off" || parts[0] == "on", let milliseconds = Int(parts[1]) else {
            throw BackendError(.corrupt, "\(hash) field \(schedule) holds \"\(text)\", not \"off <ms>\" or \"on <ms>\"")
        }
        return ScheduleSwitch(disabled: parts[0] == "off", changedAt: Self.date(milliseconds: milliseconds))
    }

    private static func validate(schedule: String) throws(BackendError) {
        guard !schedule.isEmpty else { throw BackendError(.invalid, "a schedule name must be non-empty") }
    }
}
