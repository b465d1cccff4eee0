import Foundation
import Glibc
import Synchronization

/// A private PostgreSQL server for one test: its own port on 127.0.0.1, its own data directory
/// (with its Unix socket), `trust` authentication for the superuser `postgres`, durability
/// switched off for speed, never the system's cluster.
///
/// Stop it with ``stop()`` or let ``withPostgres(database:isolation:_:)`` do it. As a safety net
/// a server is also stopped when its last reference goes away, and any still running when the
/// test process exits normally are stopped then.
///
/// Needs PostgreSQL's server binaries (Debian package `postgresql`). When the tests run as root,
/// `initdb` and `postgres`, which refuse to run as root, run as the `postgres` user; the
/// temporary directory must then be reachable by that user, as `/tmp` is.
public final class PostgresServer: Sendable {
    /// The TCP port the server listens on.
    public let port: Int
    /// The postmaster's process ID: a direct child of the test process, even when it runs as the
    /// `postgres` user, because `setpriv` changes user and then replaces itself with `postgres`.
    public let pid: Int32
    /// The database created at start, which ``url`` and ``psql(_:database:timeout:)`` use.
    public let database: String
    /// The server's directory: the data directory `data`, the Unix socket and the log,
    /// `postgres.log`. Removed when the server stops.
    public let directory: URL
    let process: ServerProcess
    private let binDirectory: String

    /// The address the server listens on: loopback only, so tests never expose it.
    public var host: String { "127.0.0.1" }

    /// The superuser, who needs no password.
    public var user: String { "postgres" }

    /// A connection URL for clients, `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    public var url: String {
        // Only RFC 3986's unreserved characters stay as they are; `.alphanumerics` would also
        // keep non-ASCII letters.
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let name = database.addingPercentEncoding(withAllowedCharacters: unreserved) ?? database
        return "postgres://\(user)@\(host):\(port)/\(name)"
    }

    private init(process: ServerProcess, port: Int, database: String, binDirectory: String) {
        self.process = process
        self.port = port
        self.pid = process.pid
        self.directory = process.directory.url
        self.database = database
        self.binDirectory = binDirectory
    }

    /// Starts a server, creates `database` in it, and returns once clients can use ``url``.
    ///
    /// The first start in a test process runs `initdb` once (about a second) into a template
    /// data directory; every server then starts from a copy of it, which takes a tenth of that.
    /// The blocking work runs on a dedicated thread, not on the cooperative pool.
    ///
    /// - Parameters:
    ///   - database: the database to create; `postgres` always exists and is not created again.
    ///   - timeout: how long the server may take to become ready, not counting `initdb`.
    /// - Throws: ``HarnessError/serverFailedToStart(server:reason:logTail:)`` with the end of the
    ///   server's log, ``HarnessError/postgresNotFound(searched:)``, or the error of a failed
    ///   `initdb`.
    public static func start(database: String = "jobhost_test", timeout: Duration = .seconds(60)) async throws
        -> PostgresServer
    {
        try await onDedicatedThread { try startBlocking(database: database, timeout: timeout) }
    }

    private static func startBlocking(database: String, timeout: Duration) throws -> PostgresServer {
        let bin = try PostgresInstallation.binDirectory.get()
        let template = try PostgresTemplate.dataDirectory(bin: bin)
        let (process, port) = try ServerProcess.launch(
            name: "postgres", logName: "postgres.log", stopSignal: SIGINT, timeout: timeout,
            spawn: { port, directory, logPath in
                try ServerUser.giveOwnership(of: directory.path)
                let data = directory.path + "/data"
                let copy = try ChildProcess.run("cp", ["-a", template, data], timeout: .seconds(60))
                guard copy.status == 0 else {
                    throw HarnessError.commandFailed(command: "cp -a \(template) \(data)", status: copy.status,
                                                     stderr: copy.stderr)
                }
                let (executable, arguments) = ServerUser.command(bin + "/postgres", [
                    "-D", data, "-p", String(port), "-k", directory.path,
                    // One server is shared by every suite of a test run, and the suites run at once:
                    // each backend under test keeps a pool, several hosts' worth in some scenarios.
                    "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400",
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                ])
                return try spawnProcess(
                    executable: executable, arguments: arguments, environment: nil, stdin: nil,
                    output: .logFile(logPath),
                    // Same process group as the tests: Ctrl-C on `swift test` stops servers too.
                    newProcessGroup: false)
            },
            isReady: { pid, _, directory in isReady(pid, dataDirectory: directory.path + "/data") })

        let server = PostgresServer(process: process, port: port, database: database, binDirectory: bin)
        if database != "postgres" {
            do {
                let quoted = "\"" + database.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                _ = try server.psql("CREATE DATABASE \(quoted)", database: "postgres")
            } catch {
                let log = (try? String(contentsOfFile: server.directory.path + "/postgres.log", encoding: .utf8)) ?? ""
                server.stop()
                throw HarnessError.serverFailedToStart(
                    server: "postgres", reason: "could not create database \(database): \(error)",
                    logTail: tail(of: log))
            }
        }
        return server
    }

    /// Whether the postmaster `pid` has finished starting up and accepts connections.
    ///
    /// Read from `postmaster.pid` in our own data directory, whose first line is the postmaster's
    /// PID and eighth its status, `ready` once it accepts connections. Unlike `pg_isready` on the
    /// port this cannot be fooled by some other server that took the port in the meantime, and it
    /// costs a file read instead of a process per poll.
    private static func isReady(_ pid: pid_t, dataDirectory: String) -> Bool {
        guard let contents = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8)
        else { return false }
        let lines = contents.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.count >= 8 && lines[0] == "\(pid)"
            && lines[7].trimmingCharacters(in: .whitespaces) == "ready"
    }

    /// Runs `sql` with `psql` as the superuser and returns what it printed.
    ///
    /// Runs `psql -X -A -t -q -v ON_ERROR_STOP=1`: no `.psqlrc`, unaligned, rows only, no command
    /// tags, stop at the first error. So `select 1` gives `"1"`, several rows come one per line
    /// with columns separated by `|`, and `create table` gives `""`. Several statements may be
    /// passed at once. Environment variables starting with `PG` are not passed on, so a
    /// developer's `PGHOST` or `PGOPTIONS` cannot redirect or change the session.
    ///
    /// This blocks; from async code the `async` overload is chosen automatically.
    ///
    /// - Parameters:
    ///   - sql: the statements, sent on standard input.
    ///   - database: the database to connect to; ``database`` if `nil`.
    ///   - timeout: after this `psql` is killed.
    /// - Returns: standard output without trailing newlines.
    /// - Throws: ``HarnessError/commandFailed(command:status:stderr:)`` carrying PostgreSQL's error
    ///   message if a statement fails.
    public func psql(_ sql: String, database: String? = nil, timeout: Duration = .seconds(60)) throws -> String {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        let result = try ChildProcess.run(
            binDirectory + "/psql",
            ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", host, "-p", String(port), "-U", user, "-d", database ?? self.database, "-f", "-"],
            environment: environment, input: sql, timeout: timeout)
        guard result.status == 0 else {
            throw HarnessError.commandFailed(command: "psql", status: result.status, stderr: result.stderr)
        }
        var output = Substring(result.stdout)
        while output.last?.isNewline == true { output.removeLast() }
        return String(output)
    }

    /// Runs `sql` like the blocking overload, on a dedicated thread.
    public func psql(_ sql: String, database: String? = nil, timeout: Duration = .seconds(60)) async throws
        -> String
    {
        try await onDedicatedThread { [self] in try psql(sql, database: database, timeout: timeout) }
    }

    /// Stops the server with a fast shutdown (`SIGINT`: open sessions are cut, no waiting for
    /// clients), `SIGKILL` after ten seconds, and removes its directory. Calling it again does
    /// nothing.
    ///
    /// Blocks the calling thread until the postmaster has exited, which takes milliseconds, so it
    /// is fine from async code and from `defer`; it has no `async` overload so that `defer` can
    /// call it.
    public func stop() {
        process.stop()
    }
}

/// Starts a private PostgreSQL server with `database` created, passes it to `body`, and stops it
/// afterwards, also when `body` throws.
///
/// - Parameters:
///   - database: the database to create, which the server's ``PostgresServer/url`` names.
///   - isolation: the caller's actor, inherited so that `body` may touch the caller's state
///     without crossing isolation.
///   - body: the test's use of the server.
/// - Returns: whatever `body` returns.
public func withPostgres<Result>(
    database: String = "jobhost_test",
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresServer) async throws -> Result
) async throws -> Result {
    let server = try await PostgresServer.start(database: database)
    do {
        let result = try await body(server)
        await stopOnDedicatedThread(server.process)
        return result
    } catch {
        await stopOnDedicatedThread(server.process)
        throw error
    }
}

/// Where PostgreSQL's server binaries are.
enum PostgresInstallation {
    /// Looked up once per process; a missing installation is reported to every test that needs it.
    static let binDirectory: Result<String, HarnessError> = locate()

    /// `pg_config --bindir` if that holds `initdb`; otherwise the highest version under
    /// `/usr/lib/postgresql`, Debian's layout, where `pg_config` may belong to a client-only
    /// `libpq-dev` and the server binaries are not on `PATH`.
    private static func locate() -> Result<String, HarnessError> {
        var searched: [String] = []
        if let configured = try? ChildProcess.run("pg_config", ["--bindir"], timeout: .seconds(10)),
           configured.status == 0
        {
            let directory = configured.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if hasServerBinaries(directory) { return .success(directory) }
            searched.append(directory)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .map { (name: $0, number: $0.split(separator: ".").map { Int($0) ?? -1 }) }
            .sorted { $0.number.lexicographicallyPrecedes($1.number) }
        for version in versions.reversed() where hasServerBinaries("\(root)/\(version.name)/bin") {
            return .success("\(root)/\(version.name)/bin")
        }
        searched.append("\(root)/*/bin")
        return .failure(.postgresNotFound(searched: searched))
    }

    private static func hasServerBinaries(_ directory: String) -> Bool {
        ["initdb", "postgres", "psql"].allSatisfy { access("\(directory)/\($0)", X_OK) == 0 }
    }
}

/// The user that runs `initdb` and `postgres`: they refuse to run as root, so as root they run as
/// `postgres`; as anyone else, as that user.
enum ServerUser {
    private static var switchesUser: Bool { geteuid() == 0 }

    /// The command line that runs `executable` as the server user.
    ///
    /// `setpriv` rather than `runuser` or `su`: those fork and wait, so the PID we hold would be
    /// theirs, and they turn our `SIGINT` into a `SIGTERM` (a "smart" shutdown that waits for
    /// every client). `setpriv` switches user and then `exec`s, so the PID is the server's own.
    static func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard switchesUser else { return (executable, arguments) }
        return ("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments)
    }

    /// Hands `path` to the server user, who must be able to write the data directory and socket.
    static func giveOwnership(of path: String) throws {
        guard switchesUser else { return }
        guard let account = getpwnam("postgres") else {
            throw HarnessError.systemCall("getpwnam(postgres): no user postgres to run the server as", errno: ENOENT)
        }
        guard chown(path, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
            throw HarnessError.systemCall("chown \(path) to postgres", errno: errno)
        }
    }
}

/// One `initdb`'d data directory per test process, copied for each server.
///
/// `initdb` takes about 0.9 s here against 0.13 s for `cp -a` of its result, and a test suite
/// starts many servers. The template lives in its own temporary directory and is removed at exit.
enum PostgresTemplate {
    private static let directory = Mutex<TemporaryDirectory?>(nil)

    /// The template's data directory, created on first use. Tests that start servers at the same
    /// time wait here for the one `initdb`; a failed `initdb` is not remembered, so the next test
    /// tries again and shows its own error.
    static func dataDirectory(bin: String) throws -> String {
        try directory.withLock { cached in
            if let cached { return cached.path + "/data" }
            LiveServers.installExitHook()
            let created = try TemporaryDirectory.create(prefix: "jobhost-test-pgtemplate-")
            let data = created.path + "/data"
            do {
                try ServerUser.giveOwnership(of: created.path)
                // C locale: stable sorting, and English messages, which the retry on "Address
                // already in use" looks for in the log.
                let (executable, arguments) = ServerUser.command(bin + "/initdb", [
                    "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "--encoding=UTF8", "--locale=C",
                ])
                let result = try ChildProcess.run(executable, arguments, timeout: .seconds(120))
                guard result.status == 0 else {
                    throw HarnessError.commandFailed(
                        command: "initdb", status: result.status, stderr: result.stdout + result.stderr)
                }
            } catch {
                try? created.remove()
                throw error
            }
            cached = created
            return data
        }
    }

    /// Called from the exit hook, after the servers copied from the template have stopped.
    static func removeAtExit() {
        directory.withLock { cached in
            try? cached?.remove()
            cached = nil
        }
    }
}
