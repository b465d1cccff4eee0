import Backend
import HostConfig
import HostDomain

/// What happens to the jobs a worker held when it ends.
struct CrashSettlement {
    let config: HostConfiguration

    /// The job a crash report names fails its attempt; with nobody named, every job a handler was
    /// running is a suspect; everything else goes back untouched. A failed attempt carries its cause
    /// (a timeout, or a crash and the signal, when one is known) for the job's attempt history.
    /// - Parameters:
    ///   - exit: how it ended, for the reason of jobs that share the blame.
    ///   - shuttingDown: the host is stopping: a worker killed for it blames nobody.
    func settlements(for ledger: WorkerLedger, exit: WorkerExit, shuttingDown: Bool) -> [(Lease, Settlement)] {
        ledger.held.values.map { entry in
            let job = entry.job
            if let reason = ledger.culprits[job.number] {
                let cause: AttemptCause =
                    ledger.timedOut.contains(job.number) ? .timeout : .crash(signal: ledger.culpritSignals[job.number])
                return (job.lease, .ended(crashed(job, reason: reason, retryAtOnce: false), cause))
            }
            // Nobody named: a kill from outside (an operator, the kernel's OOM killer) or an exit from a
            // thread that runs no handler. Every job a handler was running is a suspect; it is ready again
            // at once, but the crash counts, so a job that keeps killing workers still ends in dead.
            if ledger.culprits.isEmpty, !exit.isClean, !shuttingDown, entry.killAt != nil {
                let settlement = crashed(job, reason: "worker died (\(exit.description)) while running it", retryAtOnce: true)
                return (job.lease, .ended(settlement, .crash(signal: exit.signal)))
            }
            return (job.lease, .release)
        }
    }

    func crashed(_ job: WorkerReport.HeldJob, reason: String, retryAtOnce: Bool) -> Settlement {
        let crashes = job.crashes + 1
        if crashes >= config.host.crashLimit {
            return .crashed(retryAfter: nil, error: "poison job: its worker ended \(crashes) times while running it; last: \(reason)")
        }
        if job.attempt >= job.maxAttempts {
            return .crashed(retryAfter: nil, error: reason)
        }
        if retryAtOnce { return .crashed(retryAfter: .zero, error: reason) }
        let policy = JobRouter(config).retryPolicy(for: job.handler, queue: job.lease.queue)
        return .crashed(retryAfter: policy.delay(afterAttempt: job.attempt), error: reason)
    }
}
