import Backend
import Foundation

/// Owned leases: the claim records the fetch's owner id in `jobs.lease_owner`, so the running jobs of a
/// holder known to be gone can be taken back at once.
extension SQLiteBackend: LeaseReclaimer {
    /// One transaction over the queue's running rows whose `lease_owner` starts with `ownerPrefix`. An
    /// empty prefix is `.invalid`: it would take back every owned job of the queue.
    public func reclaim(queue: String, leasedBy ownerPrefix: String, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int) {
        guard !ownerPrefix.isEmpty else {
            throw BackendError(.invalid, "reclaim needs a non-empty owner prefix: an empty one names every holder")
        }
        try Self.validate(queue: queue)
        try open()
        let result = try writer.transaction { (statements) throws(BackendError) -> (ready: Int, dead: Int) in
            let parameters: [SQLiteValue] = [.text(queue), .text(ownerPrefix), .integer(Self.now())]
            switch mode {
            case .release:
                return (try statements.run(SQLiteStatements.reclaimRelease, parameters), 0)
            case .rescue:
                let moved = try statements.query(SQLiteStatements.reclaimRescue, parameters)
                if !moved.isEmpty {
                    try statements.run(SQLiteStatements.count, [.text(queue), .integer(0), .integer(Int64(moved.count))])
                }
                let ready = moved.filter { $0.first?.text == JobState.ready.rawValue }.count
                return (ready, moved.count - ready)
            }
        }
        if result.ready > 0 { watch.changed() }
        return result
    }
}

/// The host-name registry: the `hosts` table, one row per host name, `seen_at` from the machine's clock.
extension SQLiteBackend: HostRegistry {
    /// One transaction: reads the name's record and writes `record` when the name is free, held by the
    /// same instance, by the instance `replacing` names, or by a record seen `staleAfter` ago or longer.
    public func claimHostName(_ record: HostRecord, staleAfter: Duration, replacing: String?) throws(BackendError)
        -> (claimed: Bool, previous: HostRecord?)
    {
        try Self.validate(hostName: record.name)
        guard record.processStart <= UInt64(Int64.max) else {
            throw BackendError(.invalid, "host record \(record.name) has a process start of \(record.processStart), beyond a 64-bit integer")
        }
        try open()
        return try writer.transaction { (statements) throws(BackendError) -> (claimed: Bool, previous: HostRecord?) in
            let now = Self.now()
            var previous: HostRecord?
            var stale = true
            if let row = try statements.query(SQLiteStatements.hostRecord, [.text(record.name)]).first {
                guard let instance = row[0].text, let bootID = row[1].text, let machine = row[2].text, let pid = row[3].int64,
                      let start = row[4].int64, let seen = row[5].int64
                else { throw Self.malformed("host record") }
                previous = HostRecord(
                    name: record.name, instance: instance, bootID: bootID, machine: machine, pid: Int32(truncatingIfNeeded: pid),
                    processStart: UInt64(max(0, start)), seenAt: JobFieldLimits.date(microseconds: seen),
                    startedAt: row[6].int64.map(JobFieldLimits.date(microseconds:)))
                stale = seen <= now - Int64(max(0, staleAfter.roundedUpMicroseconds))
            }
            let claimed = previous.map { $0.instance == record.instance || $0.instance == replacing || stale } ?? true
            if claimed {
                try statements.run(SQLiteStatements.writeHost, [
                    .text(record.name), .text(record.instance), .text(record.bootID), .text(record.machine), .integer(Int64(record.pid)),
                    .integer(Int64(record.processStart)), .integer(now),
                ])
            }
            return (claimed, previous)
        }
    }

    public func refreshHostName(_ name: String, instance: String) throws(BackendError) -> Bool {
        try Self.validate(hostName: name)
        try open()
        return try writer.transaction { (statements) throws(BackendError) in
            try statements.run(SQLiteStatements.refreshHost, [.text(name), .text(instance), .integer(Self.now())])
        } == 1
    }

    public func releaseHostName(_ name: String, instance: String) throws(BackendError) {
        try Self.validate(hostName: name)
        try open()
        try writer.transaction { (statements) throws(BackendError) in
            try statements.run(SQLiteStatements.releaseHost, [.text(name), .text(instance)])
        }
    }

    public func hostRecords() throws(BackendError) -> [HostRecord] {
        try open()
        let rows = try read { (statements) throws(BackendError) in try statements.query(SQLiteStatements.hostRecords, []) }
        return try rows.map { row throws(BackendError) in
            guard let name = row[0].text, let instance = row[1].text, let bootID = row[2].text, let machine = row[3].text,
                  let pid = row[4].int64, let start = row[5].int64, let seen = row[6].int64
            else { throw Self.malformed("host records") }
            return HostRecord(
                name: name, instance: instance, bootID: bootID, machine: machine, pid: Int32(truncatingIfNeeded: pid),
                processStart: UInt64(max(0, start)), seenAt: JobFieldLimits.date(microseconds: seen),
                startedAt: row[7].int64.map(JobFieldLimits.date(microseconds:)))
        }
    }

    private static func validate(hostName name: String) throws(BackendError) {
        guard !name.isEmpty else { throw BackendError(.invalid, "a host name must be non-empty") }
    }
}

/// Schedule fires: the last fire of each schedule, per queue, is a row of `schedule_fires`, written in
/// the transaction that enqueues the fire's job.
extension SQLiteBackend: ScheduleStore {
    /// The machine's clock, which every process using the file shares.
    public func now() throws(BackendError) -> Date {
        JobFieldLimits.date(microseconds: Self.now())
    }

    /// One transaction: checks the schedule's switch, records the fire if it is later than the one
    /// recorded, enqueues the job as ``enqueue(_:)`` does (a live holder of its unique key is the
    /// fire's job then) and records its id. Nothing is written when the fire was recorded already or is
    /// ahead of the clock.
    public func claimFire(schedule: String, at fireTime: Date, job: NewJob, overlap: FireOverlap) throws(BackendError) -> FireClaim {
        try Self.validate(job)
        try Self.validate(schedule: schedule)
        try open()
        let fire = Int64((fireTime.timeIntervalSince1970 * 1_000_000).rounded())
        let claim = try writer.transaction { (statements) throws(BackendError) -> FireClaim in
            let now = Self.now()
            guard fire <= now else {
                throw BackendError(.invalid, "schedule \(schedule): fire time \(fireTime) is ahead of the machine's clock")
            }
            if let row = try statements.query(SQLiteStatements.scheduleSwitch, [.text(job.queue), .text(schedule)]).first,
               row[0].int64 == 1 || fire <= (row[1].int64 ?? .min)
            {
                return .notFired
            }
            // Read before the claim moves the fire time on; the job id it names stays.
            let live = overlap == .skip
                ? try statements.query(SQLiteStatements.liveRun, [.text(job.queue), .text(schedule)]).first?.first?.text : nil
            guard try statements.run(SQLiteStatements.claimFire, [.text(job.queue), .text(schedule), .integer(fire)]) == 1 else {
                return .notFired
            }
            if let live {
                try statements.run(SQLiteStatements.recordFireHistory, [.text(job.queue), .text(schedule), .integer(fire), .text(live), .integer(1)])
                try statements.run(SQLiteStatements.trimFireHistory, [.text(job.queue), .text(schedule)])
                return .skipped(previous: live)
            }
            let id = try Self.insert([job], into: &statements, now: now)[0]
            // The job knows its schedule, so its run counts toward the schedule's streak; a live holder
            // of the unique key returned instead was not fired by it.
            if id == job.id { try statements.run("UPDATE jobs SET schedule = ?2 WHERE id = ?1", [.text(id), .text(schedule)]) }
            try statements.run(SQLiteStatements.recordFire, [.text(job.queue), .text(schedule), .text(id)])
            try statements.run(SQLiteStatements.recordFireHistory, [.text(job.queue), .text(schedule), .integer(fire), .text(id), .integer(0)])
            try statements.run(SQLiteStatements.trimFireHistory, [.text(job.queue), .text(schedule)])
            return .fired(id)
        }
        if claim.firedJobID != nil { watch.changed() }
        return claim
    }

    public func lastFire(schedule: String, queue: String) throws(BackendError) -> (fireTime: Date, jobID: String)? {
        try Self.validate(queue: queue)
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(SQLiteStatements.lastFire, [.text(queue), .text(schedule)])
        }
        guard let row = rows.first else { return nil }
        guard let micros = row[0].int64, let id = row[1].text else { throw Self.malformed("last fire") }
        return (JobFieldLimits.date(microseconds: micros), id)
    }

    /// Rows of `schedule_fire_history`, which ``claimFire(schedule:at:job:overlap:)`` writes in its transaction.
    public func recentFires(schedule: String, queue: String, limit: Int) throws(BackendError) -> [ScheduleFire] {
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(SQLiteStatements.recentFires, [.text(queue), .text(schedule), .integer(Int64(min(limit, ScheduleFire.kept)))])
        }
        return try rows.map { row throws(BackendError) in
            guard let micros = row[0].int64, let id = row[1].text else { throw Self.malformed("recent fires") }
            return ScheduleFire(fireTime: JobFieldLimits.date(microseconds: micros), jobID: id, skipped: row[2].int64 == 1)
        }
    }

    /// Writes only a change of state; "on" for a schedule never switched writes nothing.
    public func setDisabled(schedule: String, queue: String, _ disabled: Bool) throws(BackendError) {
        try Self.validate(queue: queue)
        try Self.validate(schedule: schedule)
        try open()
        try writer.transaction { (statements) throws(BackendError) in
            let exists = try !statements.query(SQLiteStatements.scheduleSwitch, [.text(queue), .text(schedule)]).isEmpty
            guard disabled || exists else { return }
            try statements.run(SQLiteStatements.setScheduleSwitch, [.text(queue), .text(schedule), .integer(disabled ? 1 : 0), .integer(Self.now())])
        }
    }

    public func scheduleSwitch(schedule: String, queue: String) throws(BackendError) -> ScheduleSwitch {
        try Self.validate(queue: queue)
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(SQLiteStatements.scheduleSwitch, [.text(queue), .text(schedule)])
        }
        guard let row = rows.first else { return ScheduleSwitch() }
        guard let disabled = row[0].int64, let micros = row[1].int64 else { throw Self.malformed("schedule switch") }
        return ScheduleSwitch(disabled: disabled == 1, changedAt: JobFieldLimits.date(microseconds: micros))
    }

    private static func validate(schedule: String) throws(BackendError) {
        guard !schedule.isEmpty else { throw BackendError(.invalid, "a schedule name must be non-empty") }
    }
}
