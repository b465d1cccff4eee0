import Backend
import Foundation
import HostConfig
import Logging
import Synchronization
import Threads

/// This host's name on every backend that keeps a host registry: claimed at start — taking back at
/// once the jobs of a previous run of the same host that is gone — kept fresh while the host runs,
/// and given up at a clean stop.
///
/// Two live hosts started under one name (several processes on a machine with the default name, say)
/// both run: one holds the record, the other runs beside it and takes the record over only once the
/// holder is gone. Neither ever takes the other's jobs: jobs are taken back only from an instance whose
/// process is known to have ended; a holder that only went stale (elsewhere, or frozen) keeps them until
/// their leases run out.
public final class HostPresence: Sendable {
    public let identity: HostIdentity
    private let homes: [Home]
    private let logger: Logger
    private let ticker = Ticker()
    private let stopped = Completion()
    /// Backends whose last refresh failed: logged once per spell.
    private let troubled = Mutex<Set<String>>([])
    /// Backends where this run holds the name's record (the others: another live host does).
    private let holding = Mutex<Set<String>>([])

    /// A backend that keeps a registry, and the queues on it whose jobs a previous run may have held.
    struct Home: Sendable {
        var backend: String
        var registry: any HostRegistry
        var reclaimer: (any LeaseReclaimer)?
        var queues: [String]
    }

    public init(identity: HostIdentity, config: HostConfiguration, backends: [String: any JobBackend], logger: Logger) {
        self.identity = identity
        self.logger = logger
        homes = config.backends.compactMap { entry in
            guard let backend = backends[entry.name], let registry = backend as? any HostRegistry else { return nil }
            return Home(
                backend: entry.name, registry: registry, reclaimer: backend as? any LeaseReclaimer,
                queues: config.queues.filter { $0.backend == entry.name }.map(\.name))
        }
    }

    // MARK: Start

    /// Claims the name on every backend, taking back the jobs of a previous run whose process has ended
    /// (on this machine, in this PID namespace). A backend that cannot be reached is skipped: the jobs
    /// of a previous run there come back when their leases run out, as on any other host.
    public func claim() {
        for home in homes {
            do {
                try claim(on: home)
            } catch {
                logger.warning(
                    "cannot check this host's name on the backend; jobs of a previous run there come back when their leases run out",
                    metadata: ["backend": "\(home.backend)", "error": "\(error)"])
            }
        }
    }

    /// One try on one backend: claims the record if it is free, stale, or its holder is gone. Jobs are
    /// taken back only from a holder whose process is known to have ended; a stale holder elsewhere
    /// keeps its jobs until their leases run out (it may only be slow, and its leases may be long).
    /// - Parameter quietly: log nothing when another live host holds it (it was said once already).
    private func claim(on home: Home, quietly: Bool = false) throws {
        let me = identity.record
        var (claimed, previous) = try home.registry.claimHostName(me, staleAfter: HostIdentity.staleAfter, replacing: nil)
        if !claimed, let holder = previous, HostIdentity.isRunning(holder) == false {
            // Compare and swap: the record is taken only from that very holder, never from a host that
            // wrote its own meanwhile.
            (claimed, previous) = try home.registry.claimHostName(me, staleAfter: HostIdentity.staleAfter, replacing: holder.instance)
        }
        guard claimed else {
            if let holder = previous, !quietly {
                logger.notice(
                    "another live host has this name; this one runs beside it and takes back only the jobs of runs that are gone; give each host its own host.name",
                    metadata: ["backend": "\(home.backend)", "machine": "\(holder.machine)", "pid": "\(holder.pid)"])
            }
            return
        }
        holding.withLock { _ = $0.insert(home.backend) }
        if let previous, previous.instance != me.instance, HostIdentity.isRunning(previous) == false {
            try takeBack(previous, on: home, why: "its process \(previous.pid) has ended")
        }
    }

    private func takeBack(_ previous: HostRecord, on home: Home, why: String) throws {
        guard let reclaimer = home.reclaimer else { return }
        var ready = 0
        var dead = 0
        for queue in home.queues {
            let taken = try reclaimer.reclaim(queue: queue, leasedBy: HostIdentity.leasePrefix(of: previous), .rescue)
            ready += taken.ready
            dead += taken.dead
        }
        logger.notice(
            "took back the jobs of this host's previous run (\(why))",
            metadata: [
                "backend": "\(home.backend)", "previous_instance": "\(previous.instance)", "ready_again": "\(ready)", "dead": "\(dead)",
            ])
    }

    // MARK: While running

    /// Refreshes the record every ``HostIdentity/refreshEvery`` on a thread of its own.
    public func start() {
        guard !homes.isEmpty else {
            stopped.finish()
            return
        }
        startThread(name: "jobhost.presence") { [self] in
            while ticker.sleep(HostIdentity.refreshEvery) { refreshOnce() }
            stopped.finish()
        }
    }

    /// One pass on every backend. Where this run holds the record it refreshes
    /// it; where another live host does, it tries again to claim it (taking back the jobs of a holder
    /// that is gone meanwhile).
    public func refreshOnce() {
        for home in homes {
            var problem: String?
            do {
                if holding.withLock({ $0.contains(home.backend) }) {
                    if try !home.registry.refreshHostName(identity.record.name, instance: identity.record.instance) {
                        holding.withLock { _ = $0.remove(home.backend) }
                        logger.warning(
                            "another run of a host with this name took the record over: this one was not seen for a while (it stalled, or lost the backend)",
                            metadata: ["backend": "\(home.backend)"])
                    }
                } else {
                    try claim(on: home, quietly: true)
                }
            } catch {
                problem = "\(error)"
            }
            let startsASpell = troubled.withLock { backends -> Bool in
                guard problem != nil else {
                    backends.remove(home.backend)
                    return false
                }
                return backends.insert(home.backend).inserted
            }
            if let problem, startsASpell {
                logger.warning("cannot refresh this host's record; trying again", metadata: ["backend": "\(home.backend)", "error": "\(problem)"])
            }
        }
    }

    /// Stops refreshing and gives the name up on every backend, so the next run starts without waiting.
    public func stop() {
        ticker.stop()
        stopped.wait(until: .now + .seconds(5))
        for home in homes where holding.withLock({ $0.contains(home.backend) }) {
            try? home.registry.releaseHostName(identity.record.name, instance: identity.record.instance)
        }
    }

    /// As a service of the host's group: started with it, stopped when shutdown reaches it.
    public var service: ThreadService { ThreadService(name: "presence", start: start, stop: stop) }
}
