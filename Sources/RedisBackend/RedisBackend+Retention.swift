import Backend
import Durations
import RedisClient

extension RedisBackend {
    /// Deletes up to `limit` dead jobs, oldest death first, in one script call; a dead job's time is
    /// its score in the dead set (Redis's clock when it died).
    public func pruneDead(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        let script = RedisScripts.pruneDead
        var command = script.call(key: try key(queue))
        guard limit > 0 else { return 0 }
        command.append(retention.roundedUpMilliseconds)
        command.append(limit)
        let reply = try run(script, command)
        guard let count = reply.int else { throw Self.malformed(script) }
        return count
    }
}
