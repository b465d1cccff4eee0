import Backend

extension Migration {
    /// Each job's attempt history: its last runs, appended by the statements that end a run (settle,
    /// rescue, reclaim) in the same write, so the hot path gains no round trip.
    static let attempts = Migration(version: 8, name: "attempt_history") { schema in
        """
        -- A JSON array of the job's last \(JobAttempt.limit) runs, oldest first (docs/postgres.md
        -- describes an entry). NULL until its first run ends. Nullable without a default: added in the
        -- catalog only, no row rewritten; it lives and goes with the job's row.
        ALTER TABLE \(schema.quoted).jobs ADD COLUMN attempts jsonb;
        """
    }
}
