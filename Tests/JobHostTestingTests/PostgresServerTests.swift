import Foundation
import JobHostTesting
import Testing

@Suite struct PostgresServerTests {
    @Test func startsPrivateServerThatStopsCleanly() async throws {
        let server = try await PostgresServer.start()
        #expect(server.url == "postgres://postgres@127.0.0.1:\(server.port)/jobhost_test")
        #expect(isProcessAlive(server.pid))

        #expect(try await server.psql("select 1") == "1")
        #expect(try await server.psql("select current_database()") == "jobhost_test")
        // Ours, not the system's cluster.
        #expect(try await server.psql("show data_directory") == server.directory.path + "/data")
        // The PID is the postmaster's own, not that of a wrapper such as runuser.
        let postmasterPID = try String(contentsOfFile: server.directory.path + "/data/postmaster.pid", encoding: .utf8)
            .split(separator: "\n").first
        #expect(postmasterPID == "\(server.pid)")

        #expect(try await server.psql("create table jobs (id int primary key, name text)") == "")
        _ = try await server.psql("insert into jobs values (1, 'a'), (2, 'b')")
        #expect(try await server.psql("select id, name from jobs order by id") == "1|a\n2|b")

        // The URL works as it is for a client that gets nothing else.
        let viaURL = try await ChildProcess.run("psql", [server.url, "-XAtc", "select count(*) from jobs"],
                                                timeout: .seconds(30))
        #expect(viaURL.status == 0)
        #expect(viaURL.stdout == "2\n")

        await #expect {
            try await server.psql("select * from missing_table")
        } throws: { error in
            "\(error)".contains("relation \"missing_table\" does not exist")
        }

        server.stop()
        #expect(!isProcessAlive(server.pid))
        #expect(LoopbackClient.isRefused(port: server.port))
        #expect(!FileManager.default.fileExists(atPath: server.directory.path))

        server.stop()  // a second stop does nothing
    }

    @Test func twoServersAtOnceAreSeparate() async throws {
        async let first = PostgresServer.start(database: "first")
        async let second = PostgresServer.start(database: "second")
        let (a, b) = try await (first, second)
        #expect(a.port != b.port)
        #expect(a.pid != b.pid)

        _ = try await a.psql("create table only_in_a (x int)")
        #expect(try await a.psql("select to_regclass('only_in_a') is not null") == "t")
        #expect(try await b.psql("select to_regclass('only_in_a') is not null") == "f")
        #expect(try await b.psql("select current_database()") == "second")

        a.stop()
        b.stop()
        #expect(!isProcessAlive(a.pid))
        #expect(!isProcessAlive(b.pid))
    }

    @Test func withPostgresStopsTheServerAndQuotesTheDatabaseName() async throws {
        let (pid, directory) = try await withPostgres(database: "Odd \"name\"") { server in
            let name = try await server.psql("select current_database()")
            #expect(name == "Odd \"name\"")
            #expect(server.url.hasSuffix("/Odd%20%22name%22"))
            return (server.pid, server.directory)
        }
        #expect(!isProcessAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }

    @Test func failureToCreateTheDatabaseIsReported() async throws {
        await #expect {
            try await PostgresServer.start(database: "")
        } throws: { error in
            guard case HarnessError.serverFailedToStart(_, let reason, _) = error else { return false }
            return reason.contains("zero-length delimited identifier")
        }
    }
}
