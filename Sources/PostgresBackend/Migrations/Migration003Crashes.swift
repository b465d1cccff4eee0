extension Migration {
    /// `jobs.crashes`: how many times each job crashed (or hung) the worker process running it, so a
    /// supervisor on any host can send a job that keeps crashing workers to dead as poison.
    static let crashes = Migration(version: 3, name: "crashes") { schema in
        let s = schema.quoted
        return """
            -- A constant default: PostgreSQL records it in the catalog and rewrites no rows, so adding
            -- it to a large table is quick. It lands after payload rather than among the
            -- fixed-width columns; moving it there would mean rewriting the table.
            ALTER TABLE \(s).jobs ADD COLUMN crashes integer NOT NULL DEFAULT 0;
            """
    }
}
