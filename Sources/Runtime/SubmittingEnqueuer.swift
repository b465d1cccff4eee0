import HostDomain
import PluginHost

/// Chaining: a handler's enqueue goes through the submitter.
struct SubmittingEnqueuer: JobEnqueuer {
    let submitter: JobSubmitter

    func enqueue(_ job: ChainedJob) throws -> String {
        try submitter.submit(.init(
            handler: job.handler, payload: job.payload, queue: job.queue, delay: job.delay, maxAttempts: job.maxAttempts,
            uniqueKey: job.uniqueKey, origin: "chained from job \(job.parentID)"))
    }
}
