import CHiredis
import Foundation
import Logging
import Synchronization

/// One reply from Redis, converted from hiredis' `redisReply` tree. Strings are bytes: payloads need
/// not be text, and only the caller knows which ones are.
package enum RESPValue: Sendable, Equatable {
    /// A bulk string or a status reply (`+OK`).
    case string([UInt8])
    case integer(Int)
    case array([RESPValue])
    /// A nil bulk string or nil array (a missing key, a `BRPOP` that timed out, a Lua `false`).
    case null
    /// An error reply, with its code (`WRONGTYPE …`).
    case error(String)

    /// The string as UTF-8 text (invalid bytes become U+FFFD), or an integer's digits.
    package var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// An integer reply, or a string holding a decimal integer (hash fields come back as strings).
    package var int: Int? {
        switch self {
        case .integer(let value): value
        case .string(let bytes): Int(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    package var array: [RESPValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }
}

/// The arguments of one Redis command, packed into one byte buffer plus the end offset of each
/// argument: a command with thousands of arguments (a batch enqueue) costs a few growing buffers,
/// not one allocation per argument.
package struct RedisCommand: Sendable, ExpressibleByArrayLiteral {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [Int] = []

    package init(arrayLiteral arguments: String...) {
        for argument in arguments { append(argument) }
    }

    /// Room for `arguments` more arguments totalling about `bytes` bytes.
    package mutating func reserve(arguments: Int, bytes count: Int) {
        ends.reserveCapacity(ends.count + arguments)
        bytes.reserveCapacity(bytes.count + count)
    }

    package mutating func append(_ argument: String) {
        bytes.append(contentsOf: argument.utf8)
        ends.append(bytes.count)
    }

    package mutating func append(_ argument: Data) {
        bytes.append(contentsOf: argument)
        ends.append(bytes.count)
    }

    package mutating func append(_ argument: Int) {
        append(String(argument))
    }

    package var argumentCount: Int { ends.count }
}

/// A Lua script, sent as `EVALSHA` of its SHA-1; loaded with `SCRIPT LOAD` when the server does not
/// know it yet (first use, a restarted or flushed server).
package struct RedisScript: Sendable {
    /// For messages.
    package let name: String
    package let source: String
    /// Lowercase hex, as `SCRIPT LOAD` answers.
    package let sha: String

    package init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha = sha1Hex(Array(source.utf8))
    }

    /// `EVALSHA <sha> 1 <key>`, ready for the script's arguments to be appended. Every script takes
    /// one key, the queue's hash-tag base `{prefix:queue}`, and derives the rest from it, so all it
    /// touches lies in that key's cluster slot.
    package func call(key: String) -> RedisCommand {
        ["EVALSHA", sha, "1", key]
    }
}

/// Where Redis is and how to log in, parsed once from a `redis://[user:password@]host[:port][/db]`
/// URL. Messages show ``display`` (host and port), never the password.
package struct RedisEndpoint: Sendable {
    package var host: String
    package var port: Int
    package var username: String?
    package var password: String?
    package var database: Int
    package var connectTimeout: Duration
    package var commandTimeout: Duration

    /// `host:port`, for messages and logs.
    package var display: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    package init(url: String, connectTimeout: Duration, commandTimeout: Duration) throws(RedisError) {
        // The URL itself is never quoted in a message: it may hold the password.
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw RedisError(.invalid, "the Redis URL must look like redis://[user:password@]host[:port][/db]")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RedisError(.invalid, "the Redis URL names no host")
        }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let database = path.isEmpty ? 0 : Int(path), database >= 0 else {
            throw RedisError(.invalid, "the Redis URL's path must be a database number, not \"\(path)\"")
        }
        guard connectTimeout > .zero, commandTimeout > .zero else {
            throw RedisError(.invalid, "Redis connect and command timeouts must be positive")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 6379
        self.username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.password = components.password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }
}

/// One blocking connection to Redis through hiredis.
///
/// It connects on first use. When the connection breaks (an I/O error, a timeout, the server gone),
/// the failing call throws ``RedisError/Code/unavailable`` and frees the context; the next call
/// connects again. Backoff between attempts is the caller's business.
///
/// Safe to share between threads: the hiredis context lives inside a `Mutex`, so one call at a time
/// uses it. A pool hands each connection to one caller anyway; the lock is uncontended.
package final class RedisConnection: Sendable {
    package let endpoint: RedisEndpoint
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var context: UnsafeMutablePointer<redisContext>?
        /// The socket timeout currently set on `context`.
        var socketTimeout: Duration = .zero
    }

    package init(endpoint: RedisEndpoint, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
        _ = ignoreSIGPIPE
    }

    deinit {
        state.withLock { state in
            if let context = state.context { redisFree(context) }
            state.context = nil
        }
    }

    /// Sends one command and returns its reply; an error reply is thrown (see ``RedisError/reply(_:script:)``).
    /// - Parameter timeout: how long to wait for the reply; the endpoint's command timeout if `nil`.
    ///   A blocking command (`BRPOP`) needs more than it blocks for.
    package func command(_ command: RedisCommand, timeout: Duration? = nil) throws(RedisError) -> RESPValue {
        let reply = try exchange([command], timeout: timeout ?? endpoint.commandTimeout)[0]
        if case .error(let message) = reply { throw RedisError.reply(message) }
        return reply
    }

    /// Sends the commands in one write and reads their replies in order: one round trip. Error
    /// replies come back as ``RESPValue/error(_:)``, one per command that failed.
    package func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RESPValue] {
        try exchange(commands, timeout: endpoint.commandTimeout)
    }

    /// Runs scripts, pipelined, each with its command from ``RedisScript/call(key:)``. A script the
    /// server does not know (`NOSCRIPT`: it did not run) is loaded and run again, in one more round
    /// trip. Error replies come back as values, as from ``pipeline(_:)``.
    package func evaluate(_ calls: [(script: RedisScript, command: RedisCommand)]) throws(RedisError) -> [RESPValue] {
        var replies = try pipeline(calls.map(\.command))
        let unknown = replies.indices.filter {
            if case .error(let message) = replies[$0] { message.hasPrefix("NOSCRIPT") } else { false }
        }
        guard !unknown.isEmpty else { return replies }

        var loads: [RedisCommand] = []
        var loaded: Set<String> = []
        for index in unknown where loaded.insert(calls[index].script.sha).inserted {
            loads.append(["SCRIPT", "LOAD", calls[index].script.source])
        }
        let retried = try pipeline(loads + unknown.map { calls[$0].command })
        for reply in retried.prefix(loads.count) {
            if case .error(let message) = reply {
                throw RedisError(.server, "Redis at \(endpoint.display) refused to load a script: \(message)")
            }
        }
        for (index, reply) in zip(unknown, retried.dropFirst(loads.count)) {
            replies[index] = reply
        }
        return replies
    }

    /// One script call; an error reply is thrown.
    package func evaluate(_ script: RedisScript, _ command: RedisCommand) throws(RedisError) -> RESPValue {
        let reply = try evaluate([(script, command)])[0]
        if case .error(let message) = reply { throw RedisError.reply(message, script: script.name) }
        return reply
    }

    // MARK: - hiredis

    private func exchange(_ commands: [RedisCommand], timeout: Duration) throws(RedisError) -> [RESPValue] {
        try state.withLock { (state) throws(RedisError) -> [RESPValue] in
            let context = try connected(&state)
            do throws(RedisError) {
                if state.socketTimeout != timeout {
                    guard redisSetTimeout(context, timeval(timeout)) == REDIS_OK else {
                        throw failure(context, "cannot set the socket timeout")
                    }
                    state.socketTimeout = timeout
                }
                return try roundTrip(commands, on: context)
            } catch {
                // Whatever broke, the connection's state is unknown (replies may be pending): drop it.
                redisFree(context)
                state.context = nil
                throw error
            }
        }
    }

    /// Writes the commands in one go and reads one reply per command.
    private func roundTrip(_ commands: [RedisCommand], on context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> [RESPValue] {
        for command in commands {
            guard append(command, to: context) == REDIS_OK else { throw failure(context, "cannot queue a command") }
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure(context, "no reply") }
            replies.append(Self.convert(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// The live context, connecting (and logging in) first if there is none.
    private func connected(_ state: inout State) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context = state.context { return context }
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeval(endpoint.connectTimeout)) else {
            throw RedisError(.unavailable, "cannot connect to Redis at \(endpoint.display): out of memory")
        }
        do throws(RedisError) {
            guard context.pointee.err == 0 else {
                throw RedisError(.unavailable, "cannot connect to Redis at \(endpoint.display): \(Self.errorText(context))")
            }
            guard redisSetTimeout(context, timeval(endpoint.commandTimeout)) == REDIS_OK else {
                throw failure(context, "cannot set the socket timeout")
            }
            // Dead peers (a host gone without a FIN) are noticed by the kernel, not by a hung read.
            _ = redisEnableKeepAlive(context)
            try handshake(context)
        } catch {
            redisFree(context)
            throw error
        }
        state.context = context
        state.socketTimeout = endpoint.commandTimeout
        logger.debug("connected to Redis", metadata: ["redis": "\(endpoint.display)"])
        return context
    }

    /// `AUTH` and `SELECT` as the URL asks, pipelined.
    private func handshake(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        var steps: [(what: String, command: RedisCommand)] = []
        if let password = endpoint.password {
            var auth: RedisCommand = ["AUTH"]
            if let username = endpoint.username { auth.append(username) }
            auth.append(password)
            steps.append(("the login", auth))
        }
        if endpoint.database != 0 {
            var select: RedisCommand = ["SELECT"]
            select.append(endpoint.database)
            steps.append(("SELECT \(endpoint.database)", select))
        }
        let replies = try roundTrip(steps.map(\.command), on: context)
        for (step, reply) in zip(steps, replies) {
            if case .error(let message) = reply {
                // A wrong password is the server answering (.server), not a network fault; the server's
                // message ("WRONGPASS invalid username-password pair") never repeats the password.
                throw RedisError(RedisError.reply(message).code, "Redis at \(endpoint.display) refused \(step.what): \(message)")
            }
        }
    }

    private func append(_ command: RedisCommand, to context: UnsafeMutablePointer<redisContext>) -> Int32 {
        command.bytes.withUnsafeBufferPointer { buffer in
            // hiredis copies the arguments into its output buffer, so these pointers only live for the call.
            guard let address = buffer.baseAddress else { preconditionFailure("a Redis command starts with its name") }
            let base = UnsafeRawPointer(address).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            pointers.reserveCapacity(command.ends.count)
            lengths.reserveCapacity(command.ends.count)
            var start = 0
            for end in command.ends {
                pointers.append(base + start)
                lengths.append(end - start)
                start = end
            }
            return redisAppendCommandArgv(context, Int32(command.ends.count), &pointers, lengths)
        }
    }

    /// The error for a broken connection, with hiredis' reason, logged once here.
    private func failure(_ context: UnsafeMutablePointer<redisContext>, _ what: String) -> RedisError {
        let reason = context.pointee.err == 0 ? what : Self.errorText(context)
        let message: String
        if context.pointee.err == REDIS_ERR_IO && (reason.contains("temporarily unavailable") || reason.contains("timed out")) {
            message = "Redis at \(endpoint.display) did not answer in time (\(reason)); the connection was closed"
        } else {
            message = "lost the connection to Redis at \(endpoint.display): \(reason)"
        }
        logger.warning("Redis connection closed", metadata: ["redis": "\(endpoint.display)", "reason": "\(reason)"])
        return RedisError(.unavailable, message)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS:
            return .string(node.str.map { Array(UnsafeRawBufferPointer(start: $0, count: node.len)) } ?? [])
        case REDIS_REPLY_INTEGER:
            return .integer(Int(node.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                elements.append(node.element[index].map { convert($0) } ?? .null)
            }
            return .array(elements)
        case REDIS_REPLY_ERROR:
            return .error(node.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: node.len), as: UTF8.self) } ?? "ERR")
        default:
            return .null
        }
    }
}

/// hiredis writes with `write(2)`, not `send(…, MSG_NOSIGNAL)`: writing to a connection the server has
/// closed would raise `SIGPIPE`, whose default action kills the process. Ignored once, process-wide,
/// unless someone already installed a handler; the write then fails with `EPIPE`, which hiredis reports.
private let ignoreSIGPIPE: Void = {
    var current = sigaction()
    if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
        signal(SIGPIPE, SIG_IGN)
    }
}()

private func timeval(_ duration: Duration) -> Glibc.timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}

/// SHA-1 of `message` in lowercase hex: the name `EVALSHA` knows a script by. Computed here so the
/// first call of a script needs no `SCRIPT LOAD` round trip.
func sha1Hex(_ message: [UInt8]) -> String {
    var padded = message
    padded.append(0x80)
    while padded.count % 64 != 56 { padded.append(0) }
    let bitCount = UInt64(message.count) * 8
    for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitCount >> UInt64(shift))) }

    var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
    var w = [UInt32](repeating: 0, count: 80)
    for chunk in stride(from: 0, to: padded.count, by: 64) {
        for i in 0..<16 {
            let j = chunk + i * 4
            w[i] = UInt32(padded[j]) << 24 | UInt32(padded[j + 1]) << 16 | UInt32(padded[j + 2]) << 8 | UInt32(padded[j + 3])
        }
        for i in 16..<80 { w[i] = rotateLeft(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
        var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
        for i in 0..<80 {
            let (f, k): (UInt32, UInt32) =
                switch i {
                case 0..<20: ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (b ^ c ^ d, 0xCA62_C1D6)
                }
            let next = rotateLeft(a, 5) &+ f &+ e &+ k &+ w[i]
            (e, d, c, b, a) = (d, c, rotateLeft(b, 30), a, next)
        }
        h[0] &+= a
        h[1] &+= b
        h[2] &+= c
        h[3] &+= d
        h[4] &+= e
    }
    return h.map { word in
        let hex = String(word, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }.joined()
}

private func rotateLeft(_ value: UInt32, _ count: UInt32) -> UInt32 {
    value << count | value >> (32 - count)
}
