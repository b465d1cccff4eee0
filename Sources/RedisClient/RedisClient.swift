import ConnectionPool
import Foundation
import Logging

/// A small blocking Redis client for plugins that keep state in Redis (under a key prefix of their
/// own): a few pooled connections and plain commands. The same connections, timeouts and password
/// handling the backend uses; call it from handler threads, which may block.
public final class RedisClient: Sendable {
    private let pool: ConnectionPool<RedisConnection>

    public init(url: String, poolSize: Int = 2, connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(10), logger: Logger)
        throws(RedisError)
    {
        let endpoint = try RedisEndpoint(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
        pool = ConnectionPool(connections: (0..<max(1, poolSize)).map { _ in RedisConnection(endpoint: endpoint, logger: logger) })
    }

    /// One command, e.g. `["HSET", key, "field", "value"]`; an error reply is thrown.
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        var command = RedisCommand()
        for argument in arguments { command.append(argument) }
        return try pool.withConnection { connection throws(RedisError) in RedisReply(try connection.command(command)) }
    }

    /// Several commands in one round trip, with their replies in order (error replies included).
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let packed = commands.map { arguments in
            var command = RedisCommand()
            for argument in arguments { command.append(argument) }
            return command
        }
        return try pool.withConnection { connection throws(RedisError) in try connection.pipeline(packed).map(RedisReply.init) }
    }
}

/// A reply, as a plugin reads it.
public struct RedisReply: Sendable, Equatable {
    let value: RESPValue

    init(_ value: RESPValue) { self.value = value }

    /// A string reply as text, or an integer's digits.
    public var text: String? { value.text }
    public var int: Int? { value.int }
    public var array: [RedisReply]? { value.array?.map(RedisReply.init) }
    public var isNull: Bool { value == .null }
    /// An error reply's message (in a pipeline).
    public var error: String? { if case .error(let message) = value { message } else { nil } }
}
