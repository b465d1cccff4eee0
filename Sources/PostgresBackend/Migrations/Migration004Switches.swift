extension Migration {
    /// Operators' switches: queues paused (`queue_pauses`) and schedules switched off or on again
    /// (`schedule_switches`), shared by every host on the schema.
    static let switches = Migration(version: 4, name: "switches") { schema in
        let s = schema.quoted
        return """
            -- A row per paused queue: hosts claim none of its jobs while it exists. The claim reads it
            -- in the statement that locks the jobs, so a pause holds from the next claim of any host.
            -- Rows come and go by hand, a few a day: nothing to tune.
            CREATE TABLE \(s).queue_pauses (
                queue      text COLLATE "C" NOT NULL,
                paused_at  timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT queue_pauses_pkey PRIMARY KEY (queue)
            );

            -- A schedule's switch, per queue its jobs go to (as schedule_fires). Off: the schedule
            -- fires nothing. On again: fire times up to changed_at fell while it was off and are
            -- never fired, whatever its catch-up. No row: on, and never switched.
            CREATE TABLE \(s).schedule_switches (
                queue       text COLLATE "C" NOT NULL,
                schedule    text COLLATE "C" NOT NULL,
                disabled    boolean NOT NULL,
                changed_at  timestamptz NOT NULL,
                CONSTRAINT schedule_switches_pkey PRIMARY KEY (queue, schedule)
            );
            """
    }
}
