import Dispatch
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange that blocks the calling thread — a handler's or a sender's own, never Swift's
/// cooperative pool. URLSession only offers callbacks and async calls; this waits on a semaphore,
/// with a bound of its own past the session's timeout so a stuck transfer cannot hold the thread
/// for ever.
public enum BlockingExchange {
    public enum Result {
        case answered(data: Data, response: URLResponse?)
        case failed(any Error)
        /// No answer within the bound; the transfer was cancelled.
        case timedOut
    }

    public static func perform(_ request: URLRequest, on session: URLSession, bound seconds: TimeInterval) -> Result {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            outcome.set(data: data, response: response, error: error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            task.cancel()
            return .timedOut
        }
        let (data, response, error) = outcome.get()
        if let error { return .failed(error) }
        return .answered(data: data ?? Data(), response: response)
    }
}

/// Written once by the completion handler before the semaphore signals, read after the wait.
private final class Outcome: Sendable {
    private let value = Mutex<(data: Data?, response: URLResponse?, error: (any Error)?)>((nil, nil, nil))

    func set(data: Data?, response: URLResponse?, error: (any Error)?) {
        value.withLock { $0 = (data, response, error) }
    }

    func get() -> (Data?, URLResponse?, (any Error)?) {
        value.withLock { ($0.data, $0.response, $0.error) }
    }
}
