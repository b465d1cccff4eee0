import Backend
import RedisClient

extension BackendError {
    /// A Redis client error as the backend reports it: the same code and message, except that a key
    /// of the wrong type means someone else's data sits under the queue's prefix (`.corrupt`).
    init(_ error: RedisError) {
        if let reply = error.reply, reply.contains("WRONGTYPE") {
            let context = error.script.map { "Redis script \($0): " } ?? "Redis: "
            self.init(.corrupt, context + "a key under the queue's prefix holds the wrong type of value "
                + "(written by something other than jobhost?): \(reply)")
            return
        }
        switch error.code {
        case .unavailable: self.init(.unavailable, error.message)
        case .server: self.init(.server, error.message)
        case .invalid: self.init(.invalid, error.message)
        }
    }
}

/// Runs a call of the Redis client; its error comes back as the backend's.
func mapErrors<Result>(_ body: () throws(RedisError) -> Result) throws(BackendError) -> Result {
    do throws(RedisError) {
        return try body()
    } catch {
        throw BackendError(error)
    }
}
