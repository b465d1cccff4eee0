import Foundation
import Glibc
import JobHostTesting
import Testing

@Suite struct ChildProcessTests {
    @Test func reportsExitStatusAndKeepsStreamsApart() async throws {
        let result = try await ChildProcess.run("sh", ["-c", "echo out; echo err >&2; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func reportsDeathBySignalAsTheShellDoes() async throws {
        let result = try await ChildProcess.run("sh", ["-c", "kill -TERM $$"])
        #expect(result.status == 128 + SIGTERM)
    }

    @Test func blockingOverloadWorksFromSynchronousCode() throws {
        let result = try ChildProcess.run("/bin/echo", ["hello", "world"], timeout: .seconds(10))
        #expect(result.status == 0)
        #expect(result.stdout == "hello world\n")
    }

    @Test func largeOutputOnBothStreamsDoesNotDeadlock() async throws {
        // A megabyte to stderr before anything goes to stdout: a reader that drained stdout
        // first would wait forever while the child waits for room in the stderr pipe.
        let script = "head -c 1048576 /dev/zero | tr '\\0' e >&2; head -c 1048576 /dev/zero | tr '\\0' o"
        let result = try await ChildProcess.run("sh", ["-c", script], timeout: .seconds(30))
        #expect(result.status == 0)
        #expect(result.stdout.utf8.count == 1_048_576)
        #expect(result.stderr.utf8.count == 1_048_576)
        #expect(result.stdout.utf8.allSatisfy { $0 == UInt8(ascii: "o") })
    }

    @Test func largeInputIsWrittenWhileOutputIsRead() async throws {
        let input = String(repeating: "0123456789abcdef", count: 131_072)  // 2 MiB
        let result = try await ChildProcess.run("cat", input: input, timeout: .seconds(30))
        #expect(result.status == 0)
        #expect(result.stdout == input)
    }

    @Test func inputToAChildThatIgnoresItDoesNotKillUs() async throws {
        let input = String(repeating: "x", count: 4 * 1_048_576)
        let result = try await ChildProcess.run("true", input: input, timeout: .seconds(30))
        #expect(result.status == 0)
    }

    @Test func timeoutKillsTheChildAndItsChildren() async throws {
        var grandchild: Int32?
        await #expect {
            try await ChildProcess.run("sh", ["-c", "sleep 60 & echo $!; wait"], timeout: .milliseconds(500))
        } throws: { error in
            guard case HarnessError.timedOut(_, _, let stdout, _) = error else { return false }
            grandchild = Int32(stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            return true
        }
        // SIGKILL is delivered asynchronously, and the orphaned grandchild is reaped by init, so
        // it may take a moment to disappear; without the group kill it would live for a minute.
        let pid = try #require(grandchild)
        try await waitUntil("the grandchild killed with its process group", timeout: .seconds(30)) { !isProcessAlive(pid) }
    }

    @Test func environmentAndWorkingDirectoryAreTheGivenOnes() async throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let env = try await ChildProcess.run("/usr/bin/env", environment: ["ONLY": "this"])
        #expect(env.stdout == "ONLY=this\n")
        let pwd = try await ChildProcess.run("/bin/pwd", workingDirectory: directory.path)
        #expect(pwd.stdout == directory.path + "\n")
    }

    @Test func childInheritsOnlyTheStandardStreams() async throws {
        // An open descriptor without close-on-exec in the test process must not reach the child.
        let leaky = open("/dev/null", O_RDONLY)
        defer { close(leaky) }
        #expect(leaky > 2)
        // The shell's own descriptors, listed by its child `ls`.
        let result = try await ChildProcess.run("sh", ["-c", "ls /proc/$$/fd"])
        let descriptors = Set(result.stdout.split(separator: "\n").compactMap { Int32($0) })
        #expect(descriptors == [0, 1, 2])
    }

    @Test func missingExecutableIsALaunchFailure() async throws {
        await #expect {
            try await ChildProcess.run("/nonexistent/jobhost-no-such-tool")
        } throws: { error in
            guard case HarnessError.launchFailed(_, let code) = error else { return false }
            return code == ENOENT
        }
    }
}

@Suite struct ProcessAndDirectoryTests {
    @Test func isProcessAliveTellsRunningFromGone() async throws {
        #expect(isProcessAlive(getpid()))
        #expect(!isProcessAlive(0))
        #expect(!isProcessAlive(-1))
        let exited = try await ChildProcess.run("sh", ["-c", "echo $$"])
        let pid = try #require(Int32(exited.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!isProcessAlive(pid))
    }

    @Test func temporaryDirectoriesAreUniquePrivateAndRemovable() throws {
        let a = try TemporaryDirectory.create()
        let b = try TemporaryDirectory.create()
        #expect(a != b)
        #expect(a.url.lastPathComponent.hasPrefix("jobhost-test-"))
        #expect(a.url.deletingLastPathComponent().standardizedFileURL
            == FileManager.default.temporaryDirectory.standardizedFileURL)
        let permissions = try FileManager.default.attributesOfItem(atPath: a.path)[.posixPermissions] as? Int
        #expect(permissions == 0o700)

        try Data("x".utf8).write(to: a.url.appendingPathComponent("file"))
        try a.remove()
        try b.remove()
        #expect(!FileManager.default.fileExists(atPath: a.path))
        #expect(!FileManager.default.fileExists(atPath: b.path))
        try a.remove()  // already gone: not an error
    }
}
