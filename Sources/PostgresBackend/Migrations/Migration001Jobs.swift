extension Migration {
    /// The jobs table, its indexes, the per-queue counters and the `enqueue` function for applications.
    /// docs/postgres.md explains each choice at more length.
    static let jobs = Migration(version: 1, name: "jobs") { schema in
        let s = schema.quoted
        return """
            -- One row per job, in every state. A job changes state by an UPDATE of its row, so no state
            -- change can leave it in two places or none. Columns are ordered fixed-width first, which
            -- keeps alignment padding out of rows that are written three times in their short lives.
            --
            -- fillfactor 70: inserts leave 30% of each page free, so the new row version a claim or a
            -- settlement writes usually lands on the same page as the old one: one page dirtied, not
            -- two, and the next access to the page prunes the old version without waiting for vacuum.
            -- Autovacuum by count, not by fraction: this table's size swings between empty and
            -- millions, and the dead rows every claim leaves at the head of jobs_claim slow the next
            -- claims down until they are vacuumed (see docs/postgres.md); cost_delay 0 so vacuum is
            -- never throttled on the one table that must stay clean.
            CREATE TABLE \(s).jobs (
                seq           bigint GENERATED ALWAYS AS IDENTITY,
                run_at        timestamptz NOT NULL,
                enqueued_at   timestamptz NOT NULL DEFAULT now(),
                updated_at    timestamptz NOT NULL DEFAULT now(),
                lease_until   timestamptz,
                attempt       integer NOT NULL DEFAULT 0,
                max_attempts  integer NOT NULL,
                timeout_ms    integer,
                lease_token   uuid,
                id            text COLLATE "C" NOT NULL,
                queue         text COLLATE "C" NOT NULL,
                state         text COLLATE "C" NOT NULL,
                handler       text NOT NULL,
                unique_key    text COLLATE "C",
                last_error    text,
                -- json, not jsonb: json keeps the producer's bytes exactly (jsonb reorders keys and
                -- cannot hold \\u0000), and handlers get what was enqueued.
                payload       json NOT NULL,
                CONSTRAINT jobs_pkey PRIMARY KEY (id),
                CONSTRAINT jobs_state_check CHECK (state IN ('ready', 'scheduled', 'running', 'done', 'dead')),
                CONSTRAINT jobs_queue_check CHECK (queue <> ''),
                CONSTRAINT jobs_handler_check CHECK (handler <> ''),
                CONSTRAINT jobs_attempts_check CHECK (max_attempts >= 1 AND attempt >= 0),
                CONSTRAINT jobs_timeout_check CHECK (timeout_ms > 0),
                CONSTRAINT jobs_lease_check CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_until IS NOT NULL))
            ) WITH (
                fillfactor = 70,
                autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 5000,
                autovacuum_vacuum_insert_scale_factor = 0,
                autovacuum_vacuum_insert_threshold = 20000,
                autovacuum_vacuum_cost_delay = 0,
                autovacuum_analyze_scale_factor = 0.02
            );

            COMMENT ON TABLE \(s).jobs IS 'jobhost jobs, every state; change them only through jobhost or \(schema.name).enqueue()';

            -- The claim's index: pending rows only, in the order they are handed out (oldest run_at
            -- first; seq keeps the enqueue order of jobs enqueued together). A due scheduled row
            -- needs no promotion step: the claim takes both states with run_at <= now().
            CREATE INDEX jobs_claim ON \(s).jobs (queue, run_at, seq) WHERE state IN ('ready', 'scheduled');

            -- Expired leases, for rescue; running jobs, for listing.
            CREATE INDEX jobs_running ON \(s).jobs (queue, lease_until) WHERE state = 'running';

            -- Finished jobs: prune (done, oldest first) and listings (newest first).
            CREATE INDEX jobs_finished ON \(s).jobs (queue, state, updated_at) WHERE state IN ('done', 'dead');

            -- A unique key is held while its job is pending or running; done and dead jobs free it
            -- by leaving the index's predicate.
            CREATE UNIQUE INDEX jobs_unique_key ON \(s).jobs (queue, unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('ready', 'scheduled', 'running');

            -- Jobs finished and attempts failed, ever, per queue. Sharded: every settlement adds to one
            -- row of its queue, and one row per queue would serialize all settling transactions of a
            -- queue on its row lock (held until commit). A settling session picks shard
            -- pg_backend_pid() % 16; stats sum the shards. fillfactor 10: the few rows are updated
            -- in place (heap-only) for a long time before a page fills, and pruned on the way.
            CREATE TABLE \(s).queue_counters (
                queue      text COLLATE "C" NOT NULL,
                shard      smallint NOT NULL,
                processed  bigint NOT NULL DEFAULT 0,
                failed     bigint NOT NULL DEFAULT 0,
                CONSTRAINT queue_counters_pkey PRIMARY KEY (queue, shard)
            ) WITH (
                fillfactor = 10,
                autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 1000,
                autovacuum_vacuum_cost_delay = 0
            );

            -- A job id like jobhost's own (JobID in Swift): 26 characters of Crockford base32, the
            -- time in milliseconds (10 characters) then 80 random bits (16), so ids sort by creation
            -- time. The random bits are bytes 0-4 and 10-14 of a version-4 UUID, which avoids the
            -- bytes holding its version and variant.
            CREATE FUNCTION \(s).new_job_id() RETURNS text
            LANGUAGE plpgsql VOLATILE PARALLEL SAFE
            SET search_path = pg_catalog, pg_temp
            AS $function$
            DECLARE
                alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
                milliseconds bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
                random bytea := uuid_send(gen_random_uuid());
                high bigint := 0;
                low bigint := 0;
                id text := '';
            BEGIN
                FOR i IN 0..4 LOOP
                    high := (high << 8) | get_byte(random, i);
                    low := (low << 8) | get_byte(random, i + 10);
                END LOOP;
                FOR i IN REVERSE 9..0 LOOP
                    id := id || substr(alphabet, ((milliseconds >> (5 * i)) & 31)::integer + 1, 1);
                END LOOP;
                FOR i IN REVERSE 7..0 LOOP
                    id := id || substr(alphabet, ((high >> (5 * i)) & 31)::integer + 1, 1);
                END LOOP;
                FOR i IN REVERSE 7..0 LOOP
                    id := id || substr(alphabet, ((low >> (5 * i)) & 31)::integer + 1, 1);
                END LOOP;
                RETURN id;
            END
            $function$;

            -- Enqueues one job from SQL, inside the caller's transaction: the job exists if and only
            -- if that transaction commits, and idle hosts are woken (NOTIFY) only then. Returns the
            -- job's id; with a unique_key held by a pending or running job of the queue, that job's id,
            -- adding nothing. SECURITY DEFINER: an application role needs only USAGE on the schema
            -- and EXECUTE on this function, not rights on the tables.
            CREATE FUNCTION \(s).enqueue(
                handler text,
                payload jsonb,
                queue text DEFAULT 'default',
                run_at timestamptz DEFAULT now(),
                max_attempts integer DEFAULT 10,
                unique_key text DEFAULT NULL,
                timeout_ms integer DEFAULT NULL
            ) RETURNS text
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
            AS $function$
            #variable_conflict use_column
            DECLARE
                wanted_key constant text := nullif(enqueue.unique_key, '');
                due constant timestamptz := coalesce(enqueue.run_at, now());
                new_id text;
                holder text;
            BEGIN
                IF coalesce(enqueue.handler, '') = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: handler must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF coalesce(enqueue.queue, '') = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: queue must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.payload IS NULL THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: payload must not be NULL (use ''null''::jsonb for a JSON null)' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.max_attempts IS NULL OR enqueue.max_attempts < 1 THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: max_attempts must be at least 1, not %', enqueue.max_attempts USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.timeout_ms IS NOT NULL AND enqueue.timeout_ms < 1 THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: timeout_ms must be positive or NULL, not %', enqueue.timeout_ms USING ERRCODE = 'invalid_parameter_value';
                END IF;
                -- Normally once. Again only when the key's holder finished between the insert and the
                -- look-up, or (in theory) a random id was taken.
                FOR try_number IN 1..10 LOOP
                    new_id := \(s).new_job_id();
                    INSERT INTO \(s).jobs (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, payload)
                    VALUES (new_id, enqueue.queue, CASE WHEN due > now() THEN 'scheduled' ELSE 'ready' END, due,
                            enqueue.max_attempts, enqueue.timeout_ms, enqueue.handler, wanted_key, enqueue.payload::json)
                    ON CONFLICT DO NOTHING;
                    IF FOUND THEN
                        PERFORM pg_notify(\(schema.channelLiteral), enqueue.queue);
                        RETURN new_id;
                    END IF;
                    IF wanted_key IS NOT NULL THEN
                        SELECT j.id INTO holder FROM \(s).jobs AS j
                        WHERE j.queue = enqueue.queue AND j.unique_key = wanted_key AND j.state IN ('ready', 'scheduled', 'running');
                        IF holder IS NOT NULL THEN
                            RETURN holder;
                        END IF;
                    END IF;
                END LOOP;
                RAISE EXCEPTION '\(schema.name).enqueue: could not insert the job (unique key %)', wanted_key USING ERRCODE = 'serialization_failure';
            END
            $function$;

            COMMENT ON FUNCTION \(s).enqueue(text, jsonb, text, timestamptz, integer, text, integer) IS
                'Enqueue a jobhost job in the current transaction; returns its id (see docs/postgres.md)';
            REVOKE ALL ON FUNCTION \(s).enqueue(text, jsonb, text, timestamptz, integer, text, integer) FROM PUBLIC;
            REVOKE ALL ON FUNCTION \(s).new_job_id() FROM PUBLIC;
            """
    }
}
