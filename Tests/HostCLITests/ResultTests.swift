import Backend
import Foundation
import JobHostTesting
import Testing

/// ABI 1.1's job results, end to end through `host run` and `host jobs show`, and a plugin built
/// against ABI 1.0's header running beside 1.1 ones.
@Suite struct ResultTests {
    /// A handler's `set_result` is stored with the job it finished and shown by `host jobs show`; a
    /// result that is not JSON is refused and the job still succeeds, with none.
    @Test(arguments: [HostHarness.BackendKind.sqlite, .redis])
    func aHandlersResultIsShownWithTheDoneJob(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        defer { harness.stop() }
        try harness.startHost()
        let job = try await harness.enqueue("test.result", #"{"result": {"rows": 3, "names": ["a", "b"]}}"#)
        #expect(try await harness.finish(job) == .done, "\(harness.logTails())")
        let shown = try await harness.host(["jobs", "show", job, "--json"])
        try #require(shown.status == 0, "\(shown.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        let result = try #require(object["result"] as? String, "no result in \(shown.stdout)")
        #expect(result == #"{"names":["a","b"],"rows":3}"#)

        let plain = try await harness.enqueue("test.noop", "{}")
        #expect(try await harness.finish(plain) == .done)
        #expect(try harness.backend.job(queue: "default", id: plain)?.result == nil)
    }

    /// A running handler's heartbeat (progress and note) reaches the backend with the next lease
    /// renewal, and `host jobs show` shows it while the job runs.
    @Test func aRunningHandlersProgressIsShown() async throws {
        // Renewed every second (a third of the lease): a 1 s lease lapsed when a loaded machine stalled the
        // host for longer, and the handler, told to stop, ended before its progress was read.
        let harness = try await HostHarness.testPlugin(.sqlite, lease: "3s", timeout: "60s")
        defer { harness.stop() }
        try harness.startHost()
        let job = try await harness.enqueue("test.progress", #"{"ms": 60000}"#)
        try await harness.waitUntil("the running job's progress shown by host jobs show") {
            let shown = try await harness.host(["jobs", "show", job, "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            return object?["state"] as? String == "running" && object?["progress"] as? Double == 0.5 && object?["note"] as? String == "halfway"
        }
    }

    /// A plugin compiled against the 1.0 header (kept in Tests/Fixtures/abi-1.0) loads and runs next to
    /// the 1.1 test plugin: `host list-plugins` shows it as ABI 1.0, and its job is done.
    @Test func aPluginBuiltAgainstABI10RunsBesideABI11Ones() async throws {
        let harness = try await HostHarness(.sqlite)
        defer { harness.stop() }
        let source = harness.directory.url.appendingPathComponent("old.c")
        try """
            #include <string.h>
            #include "jobhost.h"

            static int32_t run(const jh_host *host, jh_context *ctx, const jh_job *job, void *data) {
                (void)data;
                const char *text = "old plugin ran";
                host->log(ctx, JH_LOG_INFO, text, strlen(text));
                return job->struct_size >= 8 ? JH_SUCCESS : JH_RETRY;
            }

            static const jh_handler_def handlers[] = {
                { .name = "old.run", .description = "built against ABI 1.0", .run = run },
            };

            static const jh_plugin_descriptor descriptor = {
                JH_DESCRIPTOR_HEADER, .name = "old", .version = "1.0.0", .description = "a 1.0 plugin",
                .handlers = handlers, .handler_count = 1,
            };

            JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void) { return &descriptor; }
            """.write(to: source, atomically: false, encoding: .utf8)
        let headers = BuildProducts.repositoryRoot.appendingPathComponent("Tests/Fixtures/abi-1.0").path
        let library = harness.directory.url.appendingPathComponent("libOld.so").path
        let compiled = try await ChildProcess.run("/usr/bin/cc", ["-shared", "-fPIC", "-O1", "-I", headers, "-o", library, source.path])
        try #require(compiled.status == 0, "cc: \(compiled.stderr)")
        try harness.writeConfig(
            host: "log_level: info",
            plugins: "  TestPlugin: {}\n  Old: { path: \"\(library)\" }",
            queues: "  default: { concurrency: 2, timeout: 5s, retention: 1h }",
            routes: "  old.*: default\n  test.*: default")

        let listed = try await harness.host(["list-plugins", "--json"])
        try #require(listed.status == 0, "\(listed.stdout)\(listed.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any], "\(listed.stdout)")
        let plugins = try #require(object["plugins"] as? [[String: Any]], "\(listed.stdout)")
        let old = try #require(plugins.first { ($0["name"] as? String) == "Old" }, "\(listed.stdout)")
        #expect("\(old["abi"] ?? "")" == "1.0", "\(old)")

        try harness.startHost()
        let oldJob = try await harness.enqueue("old.run", "{}")
        let newJob = try await harness.enqueue("test.result", #"{"result": 1}"#)
        #expect(try await harness.finish(oldJob) == .done, "\(harness.logTails())")
        #expect(try await harness.finish(newJob) == .done, "\(harness.logTails())")
        #expect(try harness.backend.job(queue: "default", id: newJob)?.result == "1")
        try await harness.waitUntil("the 1.0 plugin's log line") { harness.logTails(characters: 100_000).contains("old plugin ran") }
    }
}
