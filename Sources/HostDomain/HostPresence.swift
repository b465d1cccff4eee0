import Backend
import Foundation
import HostConfig
import Logging
import Synchronization
import Threads

/// This host's name on every backend that keeps a host registry: claimed at start — taking back at
/// once the jobs of a previous run of the same host known to be gone, refusing to start beside another
/// live host of the same name — kept fresh while the host runs, and given up at a clean stop.
public final class HostPresence: Sendable {
    public let identity: HostIdentity
    private let homes: [Home]
    private let logger: Logger
    private let ticker = Ticker()
    private let stopped = Completion()
    /// Backends whose last refresh failed, or found the name taken over: logged once per spell.
    private let troubled = Mutex<Set<String>>([])

    /// A backend that keeps a registry, and the queues on it whose jobs a previous run may have held.
    struct Home: Sendable {
        var backend: String
        var registry: any HostRegistry
        var reclaimer: (any LeaseReclaimer)?
        var queues: [String]
    }

    /// Why the host does not start.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
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

    /// Claims the name on every backend. A previous run of this host that is gone — its process ended
    /// on this machine, or its record went stale elsewhere — has its jobs taken back at once (as if
    /// their leases had run out). A backend that cannot be reached is skipped: the jobs of a previous
    /// run there come back when their leases run out, as on any other host.
    /// - Parameter wait: how long to wait for the record of a host on another machine to go stale.
    /// - Throws: ``Refusal`` when another live host holds the name.
    public func claim(waitingUpTo wait: Duration = HostIdentity.staleAfter + .seconds(2)) throws(Refusal) {
        let deadline = ContinuousClock.now + wait
        for home in homes {
            do {
                try claim(on: home, until: deadline)
            } catch let error as Refusal {
                throw error
            } catch {
                logger.warning(
                    "cannot check this host's name on the backend; jobs of a previous run there come back when their leases run out",
                    metadata: ["backend": "\(home.backend)", "error": "\(error)"])
            }
        }
    }

    private func claim(on home: Home, until deadline: ContinuousClock.Instant) throws {
        let me = identity.record
        var waiting = false
        while true {
            let (claimed, previous) = try home.registry.claimHostName(me, staleAfter: HostIdentity.staleAfter, replace: false)
            guard !claimed, let previous else {
                if let previous, previous.instance != me.instance { try takeBack(previous, on: home, why: "its record went stale") }
                return
            }
            switch HostIdentity.isRunning(previous) {
            case false?:
                _ = try home.registry.claimHostName(me, staleAfter: HostIdentity.staleAfter, replace: true)
                try takeBack(previous, on: home, why: "its process \(previous.pid) has ended")
                return
            case true?:
                throw Refusal(description:
                    "another host named '\(me.name)' runs on this machine (pid \(previous.pid)); give each host its own host.name, or stop that one first")
            case nil:
                let seen = previous.seenAt.map { " (seen \(Int(max(0, -$0.timeIntervalSinceNow))) s ago)" } ?? ""
                guard ContinuousClock.now < deadline else {
                    throw Refusal(description:
                        "host.name '\(me.name)' is in use by a running host on \(previous.machine), pid \(previous.pid)\(seen); give each host its own host.name, or stop that one first")
                }
                if !waiting {
                    waiting = true
                    logger.notice(
                        "another host of this name was seen lately on another machine; waiting for its record to go stale",
                        metadata: ["backend": "\(home.backend)", "machine": "\(previous.machine)", "pid": "\(previous.pid)"])
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
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

    /// One refresh on every backend; tests call it directly.
    public func refreshOnce() {
        for home in homes {
            let problem: String?
            do {
                problem = try home.registry.refreshHostName(identity.record.name, instance: identity.record.instance)
                    ? nil : "another run of a host with this name took the name over: this one was not seen for \(HostIdentity.staleAfter.configText) (it stalled, or lost the backend); its jobs may have been taken back"
            } catch {
                problem = "cannot refresh this host's record: \(error)"
            }
            let startsASpell = troubled.withLock { backends -> Bool in
                guard problem != nil else {
                    backends.remove(home.backend)
                    return false
                }
                return backends.insert(home.backend).inserted
            }
            if let problem, startsASpell { logger.critical("\(problem)", metadata: ["backend": "\(home.backend)"]) }
        }
    }

    /// Stops refreshing and gives the name up on every backend, so the next run starts without waiting.
    public func stop() {
        ticker.stop()
        stopped.wait(until: .now + .seconds(5))
        for home in homes {
            try? home.registry.releaseHostName(identity.record.name, instance: identity.record.instance)
        }
    }

    /// As a service of the host's group: started with it, stopped when shutdown reaches it.
    public var service: ThreadService { ThreadService(name: "presence", start: start, stop: stop) }
}
