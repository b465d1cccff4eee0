import Backend
import Foundation
import PostgresClient

/// Owned leases: the claim records the fetch's owner id in `jobs.lease_owner`, so the running jobs of a
/// holder known to be gone can be taken back at once.
extension PostgresBackend: LeaseReclaimer {
    /// One statement: the queue's running rows whose `lease_owner` starts with `ownerPrefix` are locked
    /// in id order (waiting for a settlement in flight, then checked again) and their leases end. An
    /// empty prefix is `.invalid`: it would take back every owned job of the queue.
    public func reclaim(queue: String, leasedBy ownerPrefix: String, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int) {
        guard !ownerPrefix.isEmpty else {
            throw BackendError(.invalid, "reclaim needs a non-empty owner prefix: an empty one names every holder")
        }
        return try reclaim(queue: queue, owner: ownerPrefix, exact: false, mode)
    }

    /// ``reclaim(queue:leasedBy:_:)``, or with `exact` the jobs of exactly the owner id `owner`.
    func reclaim(queue: String, owner: String, exact: Bool, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int) {
        let core = try core.get()
        try Self.validate(queue: queue)
        let statement = mode == .rescue ? core.statements.reclaimRescue : core.statements.reclaimRelease
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(statement, [queue, Self.storable(owner), exact ? "true" : "false"])
        }
        guard rows.count == 1, let ready = rows[0, 0].flatMap({ Int($0) }), let dead = rows[0, 1].flatMap({ Int($0) }) else {
            throw Self.malformed("reclaim")
        }
        // Released and rescued jobs keep their old place in line, behind where claims look now.
        if ready > 0 { core.cursors.rewind(queue) }
        return (ready, dead)
    }
}

/// The host-name registry: the `hosts` table, one row per host name, `seen_at` from the database's clock.
extension PostgresBackend: HostRegistry {
    /// One statement (`INSERT … ON CONFLICT DO UPDATE … WHERE`), asked again (at most twice more) in the
    /// one case where it cannot tell the previous record: another host inserted the name after the
    /// statement's snapshot and kept it.
    public func claimHostName(_ record: HostRecord, staleAfter: Duration, replacing: String?) throws(BackendError)
        -> (claimed: Bool, previous: HostRecord?)
    {
        let core = try core.get()
        try Self.validate(record)
        let parameters: [String?] = [
            record.name, record.instance, record.bootID, record.machine, String(record.pid), String(record.processStart),
            String(max(0, staleAfter.roundedUpMicroseconds)), replacing ?? "",
        ]
        for _ in 0..<3 {
            let rows = try core.withConnection { connection throws(PostgresError) in
                try connection.query(core.statements.claimHost, parameters)
            }
            guard rows.count == 1, let claimed = rows[0, 0] else { throw Self.malformed("claim host") }
            var previous: HostRecord?
            if let instance = rows[0, 1] {
                guard let bootID = rows[0, 2], let machine = rows[0, 3], let pid = rows[0, 4].flatMap({ Int32($0) }),
                      let start = rows[0, 5].flatMap({ UInt64($0) }), let seen = rows[0, 6].flatMap({ Int64($0) })
                else { throw Self.malformed("claim host") }
                previous = HostRecord(
                    name: record.name, instance: instance, bootID: bootID, machine: machine, pid: pid, processStart: start,
                    seenAt: Self.date(microseconds: seen))
            }
            if claimed == "t" || previous != nil { return (claimed == "t", previous) }
        }
        throw BackendError(.unavailable, "host name \(record.name): the record kept changing hands while it was claimed; try again")
    }

    public func refreshHostName(_ name: String, instance: String) throws(BackendError) -> Bool {
        let core = try core.get()
        try Self.validate(hostName: name, instance: instance)
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.refreshHost, [name, instance])
        }
        return rows.count == 1
    }

    public func releaseHostName(_ name: String, instance: String) throws(BackendError) {
        let core = try core.get()
        try Self.validate(hostName: name, instance: instance)
        _ = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.releaseHost, [name, instance])
        }
    }

    public func hostRecords() throws(BackendError) -> [HostRecord] {
        let core = try core.get()
        let rows = try core.withConnection { connection throws(PostgresError) in try connection.query(core.statements.hostRecords) }
        return try (0..<rows.count).map { row throws(BackendError) in
            guard let name = rows[row, 0], let instance = rows[row, 1], let bootID = rows[row, 2], let machine = rows[row, 3],
                  let pid = rows[row, 4].flatMap({ Int32($0) }), let start = rows[row, 5].flatMap({ UInt64($0) }),
                  let seen = rows[row, 6].flatMap({ Int64($0) })
            else { throw Self.malformed("host records") }
            return HostRecord(
                name: name, instance: instance, bootID: bootID, machine: machine, pid: pid, processStart: start,
                seenAt: Self.date(microseconds: seen), startedAt: rows[row, 7].flatMap({ Int64($0) }).map(Self.date(microseconds:)))
        }
    }

    private static func validate(_ record: HostRecord) throws(BackendError) {
        try validate(hostName: record.name, instance: record.instance)
        // Text parameters travel as C strings; process_start is a bigint.
        guard ![record.bootID, record.machine].contains(where: { $0.utf8.contains(0) }) else {
            throw BackendError(.invalid, "host record \(record.name) holds a NUL byte")
        }
        guard record.processStart <= UInt64(Int64.max) else {
            throw BackendError(.invalid, "host record \(record.name) has a process start of \(record.processStart), beyond a bigint")
        }
    }

    private static func validate(hostName name: String, instance: String) throws(BackendError) {
        guard !name.isEmpty, !name.utf8.contains(0), !instance.utf8.contains(0) else {
            throw BackendError(.invalid, "a host name must be non-empty, and it and the instance without NUL bytes")
        }
    }
}
