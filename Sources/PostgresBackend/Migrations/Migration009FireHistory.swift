extension Migration {
    /// The recent fires of each schedule (`schedule_fire_history`), for operators to see how its last
    /// runs went; and when each host record's instance started (`hosts.started_at`).
    ///
    /// Its number is written only here: version 8 belongs to another change made at the same time, so
    /// whichever lands second takes the next free number (this one has no other dependency on 8).
    static let fireHistory = Migration(version: 9, name: "fire_history") { schema in
        let s = schema.quoted
        return """
            -- The last fires of each schedule, per queue its jobs go to: written in the transaction
            -- that records the fire (and enqueues its job), which also deletes all but the newest
            -- ten, so a schedule never holds more than a few rows.
            CREATE TABLE \(s).schedule_fire_history (
                queue      text COLLATE "C" NOT NULL,
                schedule   text COLLATE "C" NOT NULL,
                fire_time  timestamptz NOT NULL,
                job_id     text COLLATE "C" NOT NULL,
                CONSTRAINT schedule_fire_history_pkey PRIMARY KEY (queue, schedule, fire_time)
            );

            -- When the row's instance first claimed the name (the database's clock). Nullable
            -- without a default: added in the catalog only; rows of running hosts get it at their
            -- next start.
            ALTER TABLE \(s).hosts ADD COLUMN started_at timestamptz;
            """
    }
}
