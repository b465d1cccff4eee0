import Foundation
import JobHostTesting
import Testing

/// The CRM plugin's four tasks through the real `host run`: jobs in a SQLite backend, the CRM's data
/// in a SQLite file of the harness's directory, each job enqueued directly (no waiting for the
/// schedules), its effect checked in the CRM's tables and its result with `host jobs show`, then run
/// again to check that nothing doubled.
@Suite struct CRMFlowTests {
    /// A host with the CRM plugin on a `crm` queue, over a CRM database with the application's tables.
    struct CRM {
        let harness: HostHarness
        let database: String

        init(timezone: String = "America/New_York", sessionMaxAge: String = "30m") async throws {
            harness = try await HostHarness(.sqlite)
            database = harness.directory.url.appendingPathComponent("crm.sqlite").path
            do {
                try await sql(
                    """
                    CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
                    CREATE TABLE deals (id INTEGER PRIMARY KEY, title TEXT NOT NULL, value_cents INTEGER NOT NULL, closed_at INTEGER);
                    CREATE TABLE reminders (id INTEGER PRIMARY KEY, note TEXT NOT NULL, due_at INTEGER NOT NULL, sent_at INTEGER);
                    CREATE TABLE sessions (id TEXT PRIMARY KEY, last_seen_at INTEGER NOT NULL);
                    CREATE TABLE activity (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, occurred_at INTEGER NOT NULL);
                    """)
                try harness.writeConfig(
                    host: "shutdown_timeout: 2s, log_level: info",
                    plugins: """
                          CRM:
                            config:
                              database_path: "\(database)"
                              timezone: \(timezone)
                              session_max_age: \(sessionMaxAge)
                              busy_timeout: 2s
                        """,
                    queues: "  crm: { concurrency: 2, timeout: 30s, retention: 1h, retry: { max_attempts: 3, base: 200ms, max: 1s } }",
                    routes: "  crm.*: crm")
            } catch {
                harness.stop()
                throw error
            }
        }

        /// Runs SQL on the CRM database with the `sqlite3` shell, as the application would write it;
        /// returns what it prints, trimmed.
        @discardableResult
        func sql(_ statements: String) async throws -> String {
            let output = try await ChildProcess.run("sqlite3", ["-cmd", ".timeout 10000", database, statements])
            try #require(output.status == 0, "sqlite3: \(output.stderr)")
            return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Enqueues `handler` with `payload` through `host enqueue`, waits until it is done and
        /// returns its result, as `host jobs show` shows it.
        func run(_ handler: String, _ payload: String = "{}") async throws -> [String: Any] {
            let job = try await harness.enqueue(handler, payload)
            let state = try await harness.finish(job, queue: "crm")
            try #require(state == .done, "\(handler) ended \(state): \(harness.logTails())")
            let shown = try await harness.host(["jobs", "show", job, "--json"])
            try #require(shown.status == 0, "\(shown.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any], "\(shown.stdout)")
            #expect(object["handler"] as? String == handler)
            // The result is shown as the JSON text the handler set.
            let text = try #require(object["result"] as? String, "no result in \(shown.stdout)")
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        }
    }

    /// Unix seconds of an ISO 8601 instant.
    static func unix(_ instant: String) throws -> Int {
        Int(try #require(ISO8601DateFormatter().date(from: instant), "\(instant)").timeIntervalSince1970)
    }

    /// The report counts the day before `as_of` in the configured zone — here New York's 8 March 2026,
    /// the day clocks went forward, 23 hours from 05:00Z to 04:00Z — and is written once per date.
    @Test func theDailyReportCountsYesterdayInItsTimeZoneOnce() async throws {
        let crm = try await CRM(timezone: "America/New_York")
        defer { crm.harness.stop() }
        let u = Self.unix
        try await crm.sql(
            """
            INSERT INTO contacts (name, created_at) VALUES
              ('before the day', \(try u("2026-03-08T04:59:59Z"))),
              ('first second', \(try u("2026-03-08T05:00:00Z"))),
              ('evening, already 9 March in UTC', \(try u("2026-03-09T02:00:00Z"))),
              ('last second', \(try u("2026-03-09T03:59:59Z"))),
              ('the next day', \(try u("2026-03-09T04:00:00Z")));
            INSERT INTO deals (title, value_cents, closed_at) VALUES
              ('won at noon', 10000, \(try u("2026-03-08T16:00:00Z"))),
              ('won late', 25050, \(try u("2026-03-09T03:00:00Z"))),
              ('closed the next day', 99999, \(try u("2026-03-09T05:00:00Z"))),
              ('still open', 5000, NULL);
            """)
        try crm.harness.startHost()

        let payload = #"{"as_of": "2026-03-09T12:00:00Z"}"#
        let first = try await crm.run("crm.daily_report", payload)
        #expect(first["report_date"] as? String == "2026-03-08")
        #expect(first["timezone"] as? String == "America/New_York")
        #expect(first["new_contacts"] as? Int == 3)
        #expect(first["closed_deals"] as? Int == 2)
        #expect(first["closed_value_cents"] as? Int == 35050)
        #expect(first["written"] as? Bool == true)
        #expect(try await crm.sql("SELECT report_date, new_contacts, closed_deals, closed_value_cents FROM crm_reports") == "2026-03-08|3|2|35050")

        // A contact the day's report did not see, then the same day again: the stored report stands.
        try await crm.sql("INSERT INTO contacts (name, created_at) VALUES ('late arrival', \(try u("2026-03-08T20:00:00Z")))")
        let second = try await crm.run("crm.daily_report", #"{"as_of": "2026-03-09T07:59:00-04:00"}"#)
        #expect(second["report_date"] as? String == "2026-03-08")
        #expect(second["new_contacts"] as? Int == 3)
        #expect(second["written"] as? Bool == false)
        #expect(try await crm.sql("SELECT count(*) FROM crm_reports") == "1")
        try await crm.harness.waitUntil("the report's log line") {
            crm.harness.logTails(characters: 100_000).contains("daily report 2026-03-08 (America/New_York): 3 new contacts")
        }
    }

    /// Due, unsent reminders are marked sent once; one already sent and one not yet due are left alone.
    @Test func dueRemindersAreMarkedSentOnce() async throws {
        let crm = try await CRM()
        defer { crm.harness.stop() }
        let now = Int(Date().timeIntervalSince1970)
        try await crm.sql(
            """
            INSERT INTO reminders (id, note, due_at, sent_at) VALUES
              (1, 'call back', \(now - 3600), NULL),
              (2, 'send quote', \(now - 60), NULL),
              (3, 'sent yesterday', \(now - 86400), \(now - 86000)),
              (4, 'next week', \(now + 7 * 86400), NULL);
            """)
        try crm.harness.startHost()

        let first = try await crm.run("crm.reminders_due")
        #expect(first["sent"] as? Int == 2)
        #expect(try await crm.sql("SELECT id FROM reminders WHERE sent_at IS NOT NULL ORDER BY id") == "1\n2\n3")
        #expect(try await crm.sql("SELECT sent_at FROM reminders WHERE id = 3") == "\(now - 86000)")
        let sentAt = try await crm.sql("SELECT group_concat(sent_at) FROM reminders WHERE id IN (1, 2)")

        let second = try await crm.run("crm.reminders_due")
        #expect(second["sent"] as? Int == 0)
        #expect(try await crm.sql("SELECT group_concat(sent_at) FROM reminders WHERE id IN (1, 2)") == sentAt)
        #expect(try await crm.sql("SELECT sent_at IS NULL FROM reminders WHERE id = 4") == "1")
    }

    /// Sessions idle longer than session_max_age (30m here) are deleted; recent ones stay.
    @Test func idleSessionsAreDeleted() async throws {
        let crm = try await CRM(sessionMaxAge: "30m")
        defer { crm.harness.stop() }
        let now = Int(Date().timeIntervalSince1970)
        try await crm.sql(
            """
            INSERT INTO sessions (id, last_seen_at) VALUES
              ('old', \(now - 7200)), ('just expired', \(now - 31 * 60)), ('recent', \(now - 60)), ('active', \(now));
            """)
        try crm.harness.startHost()

        let first = try await crm.run("crm.cleanup_sessions")
        #expect(first["deleted"] as? Int == 2)
        #expect(first["max_age_seconds"] as? Int == 1800)
        #expect(try await crm.sql("SELECT id FROM sessions ORDER BY id") == "active\nrecent")

        let second = try await crm.run("crm.cleanup_sessions")
        #expect(second["deleted"] as? Int == 0)
        #expect(try await crm.sql("SELECT count(*) FROM sessions") == "2")
    }

    /// The last full hour before `as_of` (11:00–12:00Z for 12:20Z) is counted by kind, and a second
    /// run replaces the hour's rows instead of adding to them.
    @Test func theHourlyRollupCountsTheLastFullHourOnce() async throws {
        let crm = try await CRM()
        defer { crm.harness.stop() }
        let u = Self.unix
        try await crm.sql(
            """
            INSERT INTO activity (kind, occurred_at) VALUES
              ('call', \(try u("2026-03-09T10:59:59Z"))),
              ('call', \(try u("2026-03-09T11:00:00Z"))),
              ('email', \(try u("2026-03-09T11:30:00Z"))),
              ('call', \(try u("2026-03-09T11:59:59Z"))),
              ('email', \(try u("2026-03-09T12:00:00Z")));
            """)
        try crm.harness.startHost()

        let payload = #"{"as_of": "2026-03-09T12:20:00Z"}"#
        let first = try await crm.run("crm.metrics_rollup", payload)
        #expect(first["hour_start"] as? String == "2026-03-09T11:00:00Z")
        #expect(first["activities"] as? Int == 3)
        #expect(first["by_kind"] as? [String: Int] == ["call": 2, "email": 1])
        let hour = try Self.unix("2026-03-09T11:00:00Z")
        #expect(try await crm.sql("SELECT kind, count FROM crm_metrics_hourly WHERE hour_start = \(hour) ORDER BY kind") == "call|2\nemail|1")

        let second = try await crm.run("crm.metrics_rollup", payload)
        #expect(second["activities"] as? Int == 3)
        #expect(try await crm.sql("SELECT count(*), sum(count) FROM crm_metrics_hourly") == "2|3")
    }

    /// The example config passes `host check-config`; a misspelt key and an unknown time zone in the
    /// plugin's block are refused at their lines.
    @Test func theConfigIsCheckedAtItsKeys() async throws {
        let example = BuildProducts.repositoryRoot.appendingPathComponent("config/crm.yaml").path
        let crm = try await CRM()
        defer { crm.harness.stop() }
        let checked = try await crm.harness.host(["check-config", "--no-plugins"], config: example)
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        let loaded = try await crm.harness.host(["check-config"], config: example)
        #expect(loaded.status == 0, "\(loaded.stdout)\(loaded.stderr)")
        #expect(loaded.stdout.contains("4 schedules"), "\(loaded.stdout)")

        try crm.harness.editConfig { $0.replacingOccurrences(of: "session_max_age:", with: "session_max_agee:") }
        let misspelt = try await crm.harness.host(["check-config"])
        #expect(misspelt.status == 1)
        #expect(
            misspelt.stderr.contains("plugins.CRM.config.session_max_agee: unknown key; did you mean 'session_max_age'?"),
            "\(misspelt.stdout)\(misspelt.stderr)")

        try crm.harness.editConfig {
            $0.replacingOccurrences(of: "session_max_agee:", with: "session_max_age:")
                .replacingOccurrences(of: "America/New_York", with: "Mars/Olympus_Mons")
        }
        let badZone = try await crm.harness.host(["check-config"])
        #expect(badZone.status == 1)
        #expect(
            badZone.stderr.contains("plugins.CRM.config.timezone: unknown time zone 'Mars/Olympus_Mons'"),
            "\(badZone.stdout)\(badZone.stderr)")
    }
}
