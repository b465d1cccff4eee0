extension Migration {
    /// Where a job came from (`jobs.origin`), and the last fire of each schedule (`schedule_fires`),
    /// which makes one fire time enqueue one job however many hosts run the scheduler.
    static let scheduleFires = Migration(version: 2, name: "schedule_fires") { schema in
        let s = schema.quoted
        return """
            -- For operators: "schedule nightly 2026-01-01T00:00:00Z", "chained from job …"; NULL for a
            -- plain enqueue. Nullable without a default, so adding it rewrites nothing.
            ALTER TABLE \(s).jobs ADD COLUMN origin text;

            -- The last fire of each schedule, per queue its jobs go to. A fire is recorded in the
            -- transaction that enqueues its job, and only if it is later than the one recorded: the
            -- row lock makes hosts that fire the same time take turns, and the later ones find it
            -- recorded. One row per schedule, updated once per fire: no churn worth tuning.
            CREATE TABLE \(s).schedule_fires (
                queue      text COLLATE "C" NOT NULL,
                schedule   text COLLATE "C" NOT NULL,
                fire_time  timestamptz NOT NULL,
                job_id     text COLLATE "C" NOT NULL,
                CONSTRAINT schedule_fires_pkey PRIMARY KEY (queue, schedule)
            );
            """
    }
}
