// CRM: the CRM application's periodic tasks as jobhost handlers, replacing cron and its Redis lock.
//
//   crm.daily_report      08:00 in the configured time zone: yesterday's new contacts, closed deals and
//                         their value (that zone's day), one row in crm_reports per day
//   crm.reminders_due     every 5 minutes: reminders due and not yet sent are marked sent (sent_at)
//   crm.cleanup_sessions  every 15 minutes: sessions idle longer than session_max_age are deleted
//   crm.metrics_rollup    every hour: the last full hour's activity rows counted by kind into
//                         crm_metrics_hourly
//
// The schedules live in the host's config (config/crm.yaml): the host fires each one once per fire
// time across every host on the backend, which is what the Redis lock did for cron.
//
// Where the data lives: the CRM's own SQLite file, named by `database_path`. SQLite is what the host's
// documentation makes practical for a plugin: the host already links Debian's libsqlite3 (the `CSQLite`
// module of this package), the file needs no server, an application on the same machine can share it
// (docs/sqlite.md: short `BEGIN IMMEDIATE` transactions and a busy timeout), and a test can hold the
// whole CRM in a file of its temporary directory. The guide documents no client API for PostgreSQL; a
// CRM on PostgreSQL would port the handful of statements below to it.
//
// The CRM's tables this plugin reads and changes (times are Unix seconds, UTC):
//   contacts  (created_at INTEGER)
//   deals     (closed_at INTEGER NULL, value_cents INTEGER)   -- closed_at set when the deal closes
//   reminders (due_at INTEGER, sent_at INTEGER NULL)
//   sessions  (last_seen_at INTEGER)
//   activity  (occurred_at INTEGER, kind TEXT)
// and the two it writes, created on first use:
//   crm_reports        (report_date TEXT PRIMARY KEY, timezone, new_contacts, closed_deals,
//                       closed_value_cents, job_id, created_at)
//   crm_metrics_hourly (hour_start INTEGER, kind TEXT, count INTEGER, job_id TEXT,
//                       PRIMARY KEY (hour_start, kind))
//
// Every handler is idempotent, as at-least-once delivery needs: the report is keyed by its date
// (a second run for the same day writes nothing and reports the stored row), a reminder is marked
// sent once (only rows with sent_at NULL change), a deleted session stays deleted, and an hour's
// metrics are replaced, never added to. The report's day and the rollup's hour follow from when the
// job was enqueued (a scheduled job: its fire time), or from the payload's `as_of` for a re-run or a
// backfill, so a retry that runs later covers the same period. Each handler does its work in one
// transaction, sets its counts as the job's result and logs one line.

import CSQLite
import Foundation
import PluginKit
import Synchronization

typealias Host = PluginKit.Host

// MARK: - Configuration

/// The plugin's config block: every key it takes.
struct Settings: Decodable {
    /// Absolute path of the CRM's SQLite database. It must exist: the plugin never creates it.
    var databasePath: String
    /// IANA time zone whose days the daily report counts; "UTC" when left out. Keep it equal to the
    /// `timezone:` of the daily report's schedule.
    var timezone: String?
    /// How long a session may stay idle before crm.cleanup_sessions deletes it: "24h" when left out.
    var sessionMaxAge: String?
    /// How long a statement waits for the application's own writes before the job is retried: "5s"
    /// when left out.
    var busyTimeout: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case databasePath = "database_path"
        case timezone
        case sessionMaxAge = "session_max_age"
        case busyTimeout = "busy_timeout"
    }
}

/// The checked settings, with defaults applied.
struct Options: Sendable {
    var databasePath = ""
    var timeZone = TimeZone(identifier: "UTC")!
    var sessionMaxAgeSeconds: Int64 = 24 * 3600
    var busyTimeoutMilliseconds: Int32 = 5000
}

let options = Mutex(Options())

func checkedOptions(_ settings: Settings) throws -> Options {
    var checked = Options()
    guard settings.databasePath.hasPrefix("/") else {
        throw PluginConfigurationError(
            at: "database_path", message: "expected an absolute path to the CRM's SQLite file, found '\(settings.databasePath)'")
    }
    checked.databasePath = settings.databasePath
    if let name = settings.timezone {
        guard let zone = TimeZone(identifier: name) else {
            throw PluginConfigurationError(at: "timezone", message: "unknown time zone '\(name)'; expected an IANA name such as Europe/Berlin")
        }
        checked.timeZone = zone
    }
    if let text = settings.sessionMaxAge {
        guard let seconds = durationSeconds(text), seconds >= 60 else {
            throw PluginConfigurationError(at: "session_max_age", message: "expected a duration of at least 1m such as 30m or 24h, found '\(text)'")
        }
        checked.sessionMaxAgeSeconds = Int64(seconds)
    }
    if let text = settings.busyTimeout {
        guard let seconds = durationSeconds(text), seconds > 0, seconds <= 60 else {
            throw PluginConfigurationError(at: "busy_timeout", message: "expected a duration between 1ms and 60s such as 5s, found '\(text)'")
        }
        checked.busyTimeoutMilliseconds = Int32((seconds * 1000).rounded(.up))
    }
    return checked
}

// MARK: - Payloads and results

/// The payload every handler takes; the schedules send `{}`.
struct Payload: Decodable {
    /// "Now", as an ISO 8601 instant (`2026-03-09T08:00:00Z`), for crm.daily_report (its day is the
    /// one before this instant's, in the configured zone) and crm.metrics_rollup (its hour is the
    /// last full one before this instant): a re-run or a backfill for a past day or hour. Left out:
    /// when the job was enqueued, which for a scheduled job is its fire time.
    var asOf: String?

    enum CodingKeys: String, CodingKey {
        case asOf = "as_of"
    }
}

struct DailyReport: Encodable {
    var reportDate: String
    var timezone: String
    var newContacts: Int64
    var closedDeals: Int64
    var closedValueCents: Int64
    /// False when the day's report was already written (by an earlier run): these are its counts.
    var written: Bool

    enum CodingKeys: String, CodingKey {
        case reportDate = "report_date", timezone, newContacts = "new_contacts", closedDeals = "closed_deals",
            closedValueCents = "closed_value_cents", written
    }
}

struct RemindersSent: Encodable {
    var sent: Int
}

struct SessionsDeleted: Encodable {
    var deleted: Int
    var maxAgeSeconds: Int64

    enum CodingKeys: String, CodingKey {
        case deleted, maxAgeSeconds = "max_age_seconds"
    }
}

struct MetricsRollup: Encodable {
    var hourStart: String
    var activities: Int64
    var byKind: [String: Int64]

    enum CodingKeys: String, CodingKey {
        case hourStart = "hour_start", activities, byKind = "by_kind"
    }
}

/// The instant a payload's `as_of` names, else when the job was enqueued (for a scheduled job, its
/// fire time): a retry that runs later, even after midnight, still covers the same day or hour.
func referenceTime(_ payload: Payload, _ job: Job) throws -> Date {
    guard let text = payload.asOf else { return job.enqueuedAt }
    let formatter = ISO8601DateFormatter()
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    throw DiscardJob("payload.as_of: expected an ISO 8601 instant such as 2026-03-09T08:00:00Z, found '\(text)'")
}

func isoInstant(_ seconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")!
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// Sets the job's result. A host that refuses it (one older than ABI 1.1 keeps no results) must not
/// turn work already committed into a retry: the counts are in the log line either way.
func keepResult(_ result: some Encodable, _ host: Host) {
    do {
        try host.setResult(json: result)
    } catch {
        host.log(.warning, "the job's result was not kept: \(error)")
    }
}

/// Throws, so that the job is retried with the reason, when the host asked the handler to stop.
func stopIfCancelled(_ host: Host, _ step: String) throws {
    if host.isCancelled { throw CRMError("cancelled before \(step)") }
}

struct CRMError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - The handlers

/// Yesterday (in the configured zone, relative to `as_of` or the enqueue time): new contacts, closed deals and
/// their value, written once per date into crm_reports.
func dailyReport(job: Job, host: Host) throws -> Outcome {
    let payload = try job.decode(Payload.self)
    let now = try referenceTime(payload, job)
    let settings = options.withLock { $0 }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = settings.timeZone
    let today = calendar.startOfDay(for: now)
    guard let yesterday = calendar.date(byAdding: .day, value: -1, to: today) else {
        throw CRMError("cannot compute the day before \(today) in \(settings.timeZone.identifier)")
    }
    let parts = calendar.dateComponents([.year, .month, .day], from: yesterday)
    let reportDate = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    // The local day [00:00, next 00:00): 23 or 25 hours long on a DST switch.
    let start = Int64(yesterday.timeIntervalSince1970)
    let end = Int64(today.timeIntervalSince1970)

    try stopIfCancelled(host, "opening the CRM database")
    let database = try Database(path: settings.databasePath, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
    let report: DailyReport = try database.transaction {
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS crm_reports (
                report_date TEXT PRIMARY KEY, timezone TEXT NOT NULL, new_contacts INTEGER NOT NULL,
                closed_deals INTEGER NOT NULL, closed_value_cents INTEGER NOT NULL, job_id TEXT NOT NULL,
                created_at INTEGER NOT NULL)
            """)
        let contacts = try database.integer("SELECT count(*) FROM contacts WHERE created_at >= ?1 AND created_at < ?2", [.integer(start), .integer(end)])
        let deals = try database.row(
            "SELECT count(*), coalesce(sum(value_cents), 0) FROM deals WHERE closed_at >= ?1 AND closed_at < ?2",
            [.integer(start), .integer(end)])
        try stopIfCancelled(host, "writing the report for \(reportDate)")
        let inserted = try database.run(
            """
            INSERT INTO crm_reports (report_date, timezone, new_contacts, closed_deals, closed_value_cents, job_id, created_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (report_date) DO NOTHING
            """,
            [
                .text(reportDate), .text(settings.timeZone.identifier), .integer(contacts), deals[0], deals[1], .text(job.id),
                .integer(Int64(Date().timeIntervalSince1970)),
            ])
        // The row as stored: this run's counts, or an earlier run's for the same date.
        let stored = try database.row(
            "SELECT timezone, new_contacts, closed_deals, closed_value_cents FROM crm_reports WHERE report_date = ?1", [.text(reportDate)])
        return DailyReport(
            reportDate: reportDate, timezone: stored[0].text ?? "", newContacts: stored[1].integer ?? 0,
            closedDeals: stored[2].integer ?? 0, closedValueCents: stored[3].integer ?? 0, written: inserted == 1)
    }
    host.log(
        .info,
        "daily report \(report.reportDate) (\(report.timezone)): \(report.newContacts) new contacts, \(report.closedDeals) closed deals worth \(report.closedValueCents) cents\(report.written ? "" : "; already written, nothing changed")"
    )
    keepResult(report, host)
    return .success
}

/// Marks every reminder that is due and not yet sent as sent now.
func remindersDue(job: Job, host: Host) throws -> Outcome {
    _ = try job.decode(Payload.self)
    let settings = options.withLock { $0 }
    let now = Int64(Date().timeIntervalSince1970)
    try stopIfCancelled(host, "opening the CRM database")
    let database = try Database(path: settings.databasePath, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
    // The real CRM sends an email per reminder here; recording sent_at in the same transaction that
    // picks the reminder is what keeps a second run from sending it again.
    let sent = try database.transaction {
        try database.run("UPDATE reminders SET sent_at = ?1 WHERE sent_at IS NULL AND due_at <= ?1", [.integer(now)])
    }
    host.log(.info, "reminders due: \(sent) marked sent")
    keepResult(RemindersSent(sent: sent), host)
    return .success
}

/// Deletes the sessions idle longer than session_max_age.
func cleanupSessions(job: Job, host: Host) throws -> Outcome {
    _ = try job.decode(Payload.self)
    let settings = options.withLock { $0 }
    let cutoff = Int64(Date().timeIntervalSince1970) - settings.sessionMaxAgeSeconds
    try stopIfCancelled(host, "opening the CRM database")
    let database = try Database(path: settings.databasePath, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
    let deleted = try database.transaction {
        try database.run("DELETE FROM sessions WHERE last_seen_at < ?1", [.integer(cutoff)])
    }
    host.log(.info, "sessions idle for more than \(settings.sessionMaxAgeSeconds)s: \(deleted) deleted")
    keepResult(SessionsDeleted(deleted: deleted, maxAgeSeconds: settings.sessionMaxAgeSeconds), host)
    return .success
}

/// Counts the last full hour's activity rows (UTC hours, before `as_of` or the enqueue time) by kind into
/// crm_metrics_hourly, replacing whatever an earlier run wrote for that hour.
func metricsRollup(job: Job, host: Host) throws -> Outcome {
    let payload = try job.decode(Payload.self)
    let now = Int64(try referenceTime(payload, job).timeIntervalSince1970)
    let hourEnd = now - ((now % 3600) + 3600) % 3600
    let hourStart = hourEnd - 3600
    let settings = options.withLock { $0 }
    try stopIfCancelled(host, "opening the CRM database")
    let database = try Database(path: settings.databasePath, busyTimeoutMilliseconds: settings.busyTimeoutMilliseconds)
    let byKind: [String: Int64] = try database.transaction {
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS crm_metrics_hourly (
                hour_start INTEGER NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, job_id TEXT NOT NULL,
                PRIMARY KEY (hour_start, kind))
            """)
        try database.run("DELETE FROM crm_metrics_hourly WHERE hour_start = ?1", [.integer(hourStart)])
        try database.run(
            """
            INSERT INTO crm_metrics_hourly (hour_start, kind, count, job_id)
            SELECT ?1, kind, count(*), ?3 FROM activity WHERE occurred_at >= ?1 AND occurred_at < ?2 GROUP BY kind
            """,
            [.integer(hourStart), .integer(hourEnd), .text(job.id)])
        var counts: [String: Int64] = [:]
        for row in try database.rows("SELECT kind, count FROM crm_metrics_hourly WHERE hour_start = ?1", [.integer(hourStart)]) {
            counts[row[0].text ?? ""] = row[1].integer ?? 0
        }
        return counts
    }
    let rollup = MetricsRollup(hourStart: isoInstant(hourStart), activities: byKind.values.reduce(0, +), byKind: byKind)
    host.log(.info, "metrics for the hour from \(rollup.hourStart): \(rollup.activities) activities in \(byKind.count) kinds")
    keepResult(rollup, host)
    return .success
}

// MARK: - The plugin

let plugin = Plugin(
    name: "crm",
    version: "1.0.0",
    description: "The CRM's periodic tasks: daily report, due reminders, session cleanup, hourly metrics",
    handlers: [
        Handler("crm.daily_report", description: "Yesterday's new contacts and closed deals into crm_reports, once per day", timeout: .seconds(60)) {
            job, host in try dailyReport(job: job, host: host)
        },
        Handler("crm.reminders_due", description: "Marks due, unsent reminders as sent", timeout: .seconds(60)) { job, host in
            try remindersDue(job: job, host: host)
        },
        Handler("crm.cleanup_sessions", description: "Deletes sessions idle longer than session_max_age", timeout: .seconds(60)) { job, host in
            try cleanupSessions(job: job, host: host)
        },
        Handler("crm.metrics_rollup", description: "The last full hour's activity counted by kind into crm_metrics_hourly", timeout: .seconds(60)) {
            job, host in try metricsRollup(job: job, host: host)
        },
    ],
    onInit: { config, host in
        // Only checks the block: the database is opened by each job, so init stays cheap and touches nothing.
        let checked = try checkedOptions(try config.decode(Settings.self))
        options.withLock { $0 = checked }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
