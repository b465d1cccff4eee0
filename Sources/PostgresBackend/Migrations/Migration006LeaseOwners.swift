extension Migration {
    /// Owned leases and the host-name registry: `jobs.lease_owner`, who holds each lease, so the jobs of a
    /// holder known to be gone come back at once; and `hosts`, one row per host name, so a host that
    /// starts can tell whether another runs under its name.
    static let leaseOwners = Migration(version: 6, name: "lease_owners") { schema in
        let s = schema.quoted
        return """
            -- The owner id of the fetch that leased the job (`<host>#<instance>/<holder>/<n>`), written
            -- by the claim with the lease token. Meaningful only while the job is running; NULL for jobs
            -- never claimed since this migration. Nullable without a default: PostgreSQL adds it in
            -- the catalog only and rewrites no rows, and enqueue() (which names its columns) is
            -- unaffected.
            ALTER TABLE \(s).jobs ADD COLUMN lease_owner text COLLATE "C";

            -- One row per host name: the running host that holds the name, and when the database
            -- last heard from it (seen_at, the database's clock). Rows change a few times a minute.
            CREATE TABLE \(s).hosts (
                name           text COLLATE "C" NOT NULL,
                instance       text COLLATE "C" NOT NULL,
                boot_id        text NOT NULL,
                machine        text NOT NULL,
                pid            integer NOT NULL,
                process_start  bigint NOT NULL,
                seen_at        timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT hosts_pkey PRIMARY KEY (name),
                CONSTRAINT hosts_name_check CHECK (name <> '')
            );
            """
    }
}
