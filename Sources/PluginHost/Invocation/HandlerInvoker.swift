internal import JobHostABI
import Foundation

extension RegisteredHandler {
    /// Runs the handler for one job on the calling thread and returns its outcome.
    ///
    /// Blocks for as long as the handler runs: call it from a thread the runtime owns, never from
    /// Swift's cooperative pool.
    public func invoke(_ context: InvocationContext) -> HandlerOutcome {
        let job = context.job
        let status: Int32 = job.id.withCString { id in
            job.handler.withCString { handler in
                job.queue.withCString { queue in
                    job.payload.withUnsafeBytes { payload in
                        var cJob = jh_job()
                        cJob.struct_size = UInt32(MemoryLayout<jh_job>.size)
                        cJob.attempt = UInt32(clamping: job.attempt)
                        cJob.max_attempts = UInt32(clamping: job.maxAttempts)
                        cJob.id = id
                        cJob.handler = handler
                        cJob.queue = queue
                        cJob.payload = payload.baseAddress?.assumingMemoryBound(to: UInt8.self)
                        cJob.payload_len = payload.count
                        cJob.deadline_unix_ms = job.deadline.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
                        cJob.enqueued_at_unix_ms = Int64(job.enqueuedAt.timeIntervalSince1970 * 1000)
                        return withExtendedLifetime(context) {
                            run(HostServiceTable.shared, HostServiceTable.context(for: context), &cJob, handlerData)
                        }
                    }
                }
            }
        }
        return context.outcome(forStatus: status)
    }
}
