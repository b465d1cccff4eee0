import Backend
import HostConfig

extension QueueConfig {
    /// The queue's `retry_position`, as the backend's settle takes it.
    public var backendRetryPosition: Backend.RetryPosition {
        switch retryPosition {
        case .front: .front
        case .back: .back
        }
    }
}
