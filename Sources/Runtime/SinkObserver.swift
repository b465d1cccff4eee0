import Backend
import HostDomain
/// Hands the finished jobs of an in-process runtime to a sink.
public struct SinkObserver: JobObserver {
    let sink: any JobEventSink

    public init(sink: any JobEventSink) { self.sink = sink }

    public func threadWillRunHandlers() {}
    public func held(_ jobs: [LeasedJob]) {}
    public func willRun(_ job: LeasedJob) {}
    public func didRun(_ job: LeasedJob) {}
    public func letGo(_ jobs: [(lease: Lease, finished: FinishedJob?)]) {
        let finished = jobs.compactMap(\.finished)
        if !finished.isEmpty { sink.finished(finished) }
    }
}
