import Backend
import Foundation
import JobHostTesting
import Testing

/// The dashboard in a real browser: headless Chromium driven by Selenium (Debian's `chromium`,
/// `chromium-driver` and `python3-selenium`, which `scripts/install-deps --test` installs), against
/// a real `host run` with a known workload. The steps are in Tests/Browser/dashboard_browser.py.
@Suite(.serialized)
struct DashboardBrowserTests {
    static let python = "/usr/bin/python3"
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Browser/dashboard_browser.py").path

    @Test(arguments: [HostHarness.BackendKind.sqlite, .redis])
    func anOperatorSignsInSeesTheWorkAndActsOnIt(_ kind: HostHarness.BackendKind) async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: run scripts/install-deps --test")
        }
        let selenium = try await ChildProcess.run(Self.python, ["-c", "import selenium"], timeout: .seconds(60))
        try #require(selenium.status == 0, "Debian's python3-selenium is missing: run scripts/install-deps --test\n\(selenium.stderr)")

        let admin = try await AdminHarness(kind)
        let harness = admin.run
        try harness.editConfig {
            $0 + """
                schedules:
                  hourly: { every: 1h, handler: test.record, payload: { record: "\(harness.recordFile)" } }

                """
        }
        let host = try await admin.startHost()

        // The known workload: five jobs done (one with a payload to search for), one dead after three
        // failed attempts, one scheduled an hour ahead.
        let searchText = "needle-\(UUID().uuidString.prefix(8))"
        var done = try harness.enqueue(4, handler: "test.record") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        done += try harness.enqueue(1, handler: "test.record") { _ in #"{"record": "\#(harness.recordFile)", "label": "\#(searchText)"}"# }
        _ = FileManager.default.createFile(atPath: admin.failFlag, contents: nil)
        let dead = try harness.enqueue(1, handler: "test.fail_while", maxAttempts: 3) { _ in #"{"path": "\#(admin.failFlag)"}"# }[0]
        let scheduled = try harness.backend.enqueue([
            NewJob(queue: "default", handler: "test.record", payload: Data(#"{"record": "\#(harness.recordFile)"}"#.utf8), maxAttempts: 3, delay: .seconds(3600))
        ])[0]
        for job in done { #expect(try await harness.finish(job) == .done) }
        #expect(try await harness.finish(dead, timeout: .seconds(120)) == .dead)

        let browser = try await ChildProcess.run(
            Self.python, [Self.script],
            environment: ProcessInfo.processInfo.environment.merging([
                "DASHBOARD_URL": "http://127.0.0.1:\(admin.port)",
                "DASHBOARD_TOKEN": AdminHarness.token,
                "DASHBOARD_HOST_COMMAND": String(decoding: try JSONEncoder().encode([BuildProducts.host.path, "--config", harness.configPath]), as: UTF8.self),
                "DASHBOARD_RECORD_FILE": harness.recordFile,
                "DASHBOARD_FAIL_FLAG": admin.failFlag,
                "DASHBOARD_DEAD_JOB": dead,
                "DASHBOARD_SCHEDULED_JOB": scheduled,
                "DASHBOARD_SEARCH_TEXT": searchText,
                "DASHBOARD_SEARCH_JOB": done[4],
                "DASHBOARD_DONE_JOBS": "\(done.count)",
            ]) { $1 },
            timeout: .seconds(600))
        #expect(browser.status == 0, "the browser steps failed:\n\(browser.stdout)\n\(browser.stderr)\n\(harness.logTails())")
        #expect(browser.stdout.contains("ok: signed out"), "\(browser.stdout)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// Served by `host run` itself, with the API; `admin.dashboard: false` leaves the API alone.
    @Test func theDashboardComesWithTheAdminServerUnlessSwitchedOff() async throws {
        let admin = try await AdminHarness(.sqlite)
        var host = try await admin.startHost()
        let page = try await admin.get("/", token: nil)
        #expect(page.status == 200 && page.text.contains("/assets/dashboard.js"), "\(page.status) \(page.text)")
        #expect(try await admin.get("/assets/dashboard.js", token: nil).text.contains("/api/v1/queues"))
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)

        try admin.run.editConfig { $0.replacingOccurrences(of: "open_reads:", with: "dashboard: false, open_reads:") }
        host = try await admin.startHost()
        #expect(try await admin.get("/", token: nil).status == 404)
        #expect(try await admin.get("/api/v1/queues").status == 200)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
