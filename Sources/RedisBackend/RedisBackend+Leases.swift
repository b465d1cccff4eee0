import Backend
import Foundation
import RedisClient

/// Owned leases: every job a fetch leases records the fetch's owner id in its hash (`lease_owner`),
/// so the running jobs of a holder known to be gone can be taken back at once.
extension RedisBackend: LeaseReclaimer {
    /// One script call: the queue's leases are read, and those of running jobs whose `lease_owner`
    /// starts with `ownerPrefix` end (see ``RedisScripts/reclaim``). An empty prefix is `.invalid`:
    /// it would take back every owned job of the queue.
    public func reclaim(queue: String, leasedBy ownerPrefix: String, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int) {
        guard !ownerPrefix.isEmpty else {
            throw BackendError(.invalid, "reclaim needs a non-empty owner prefix: an empty one names every holder")
        }
        return try reclaim(queue: queue, owner: ownerPrefix, exact: false, mode)
    }

    /// ``reclaim(queue:leasedBy:_:)``, or with `exact` the jobs of exactly the owner id `owner`.
    func reclaim(queue: String, owner: String, exact: Bool, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int) {
        let script = RedisScripts.reclaim
        var command = script.call(key: try key(queue))
        command.append(owner)
        command.append(mode.rawValue)
        command.append(exact ? 1 : 0)
        let reply = try run(script, command)
        guard let counts = reply.array, counts.count == 2, let ready = counts[0].int, let dead = counts[1].int else {
            throw Self.malformed(script)
        }
        return (ready, dead)
    }
}

/// The host-name registry: one hash, `<prefix>:hosts`, host name → the record as JSON, its `seenAt`
/// in ms set from Redis's clock by the scripts (docs/redis.md).
extension RedisBackend: HostRegistry {
    public func claimHostName(_ record: HostRecord, staleAfter: Duration, replacing: String?) throws(BackendError)
        -> (claimed: Bool, previous: HostRecord?)
    {
        try Self.validate(hostName: record.name)
        let script = RedisScripts.claimHost
        var command = script.call(key: hostsKey)
        command.append(record.name)
        command.append(try HostRecordJSON.encode(record))
        command.append(staleAfter.roundedUpMilliseconds)
        command.append(replacing ?? "")
        let reply = try run(script, command)
        guard let parts = reply.array, parts.count == 2, let claimed = parts[0].int else { throw Self.malformed(script) }
        return (claimed == 1, parts[1].text.flatMap(HostRecordJSON.decode))
    }

    public func refreshHostName(_ name: String, instance: String) throws(BackendError) -> Bool {
        try Self.validate(hostName: name)
        let script = RedisScripts.refreshHost
        var command = script.call(key: hostsKey)
        command.append(name)
        command.append(instance)
        guard let answer = try run(script, command).int else { throw Self.malformed(script) }
        return answer == 1
    }

    public func releaseHostName(_ name: String, instance: String) throws(BackendError) {
        try Self.validate(hostName: name)
        let script = RedisScripts.releaseHost
        var command = script.call(key: hostsKey)
        command.append(name)
        command.append(instance)
        guard try run(script, command).int != nil else { throw Self.malformed(script) }
    }

    /// One `HGETALL`; a field that is not a record (an edit) is left out, as a claim counts it as none.
    public func hostRecords() throws(BackendError) -> [HostRecord] {
        let key = hostsKey
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["HGETALL", key]) }
        guard let items = reply.array else { throw BackendError(.corrupt, "\(key) is not a hash") }
        return stride(from: 1, to: items.count, by: 2).compactMap { items[$0].text.flatMap(HostRecordJSON.decode) }.sorted { $0.name < $1.name }
    }

    private static func validate(hostName name: String) throws(BackendError) {
        guard !name.isEmpty else { throw BackendError(.invalid, "a host name must be non-empty") }
    }
}

/// A ``HostRecord`` as the `hosts` hash holds it: a JSON object with the record's property names,
/// `seenAt` and `startedAt` in ms since the epoch (Redis's clock).
enum HostRecordJSON {
    private struct Wire: Codable {
        var name: String
        var instance: String
        var bootID: String
        var machine: String
        var pid: Int32
        var processStart: UInt64
        var seenAt: Int64?
        var startedAt: Int64?
    }

    /// The record without `seenAt` and `startedAt`: the script sets them.
    static func encode(_ record: HostRecord) throws(BackendError) -> String {
        let wire = Wire(
            name: record.name, instance: record.instance, bootID: record.bootID, machine: record.machine, pid: record.pid,
            processStart: record.processStart, seenAt: nil, startedAt: nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(wire) else { throw BackendError(.invalid, "host record \(record.name) cannot be encoded") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The record, or nil when the text is not one (an edit): such a record counts as stale anyway.
    static func decode(_ text: String) -> HostRecord? {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(text.utf8)) else { return nil }
        return HostRecord(
            name: wire.name, instance: wire.instance, bootID: wire.bootID, machine: wire.machine, pid: wire.pid,
            processStart: wire.processStart, seenAt: wire.seenAt.map { JobFieldLimits.date(milliseconds: $0) },
            startedAt: wire.startedAt.map { JobFieldLimits.date(milliseconds: $0) })
    }
}
