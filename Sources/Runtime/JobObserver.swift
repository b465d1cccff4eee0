import Backend
import HostDomain

/// Told where each job of a runtime is, so a supervisor in another process knows at every moment
/// what a worker holds and what it runs. Calls must be cheap: they sit on the path of every job.
public protocol JobObserver: Sendable {
    /// On a runner thread that will run handlers, before its first job.
    func threadWillRunHandlers()
    /// Jobs just leased by this runtime.
    func held(_ jobs: [LeasedJob])
    /// On the slot thread, right before the handler runs `job`. (Which jobs run, and until when, is
    /// ``HostRuntime/runningJobs()``: asked for now and then, rather than told for every job.)
    func willRun(_ job: LeasedJob)
    /// On the slot thread, right after the handler returned.
    func didRun(_ job: LeasedJob)
    /// Jobs no longer held here: their outcome recorded (with what it was), handed back, or their
    /// lease lost (those two without one).
    func letGo(_ jobs: [(lease: Lease, finished: FinishedJob?)])
}
