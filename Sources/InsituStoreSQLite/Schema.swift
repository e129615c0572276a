import GRDB

/// The store's versioned schema. Migrations are append-only: never edit a registered migration,
/// register a new one ("v2", ...) instead.
///
/// Conventions: identifiers are TEXT, timestamps are INTEGER milliseconds since the Unix epoch,
/// state enums are their `rawValue` strings, and nested values (specs, node infos, result files)
/// are JSON text encoded with sorted keys.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        id TEXT NOT NULL PRIMARY KEY,
                        name TEXT NOT NULL,
                        state TEXT NOT NULL,
                        state_reason TEXT,
                        spec TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        version INTEGER NOT NULL
                    );
                    -- jobs(limit:) lists newest first.
                    CREATE INDEX jobs_created ON jobs (created_at, id);
                    -- recover() loads the non-terminal jobs.
                    CREATE INDEX jobs_state ON jobs (state);

                    CREATE TABLE executions (
                        id TEXT NOT NULL PRIMARY KEY,
                        job_id TEXT NOT NULL,
                        "partition" INTEGER NOT NULL CHECK ("partition" >= 0),
                        attempt INTEGER NOT NULL CHECK (attempt >= 0),
                        node_id TEXT NOT NULL,
                        state TEXT NOT NULL,
                        desired_state TEXT NOT NULL,
                        state_reason TEXT,
                        exit_code INTEGER,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX executions_job ON executions (job_id);
                    -- Partial: only the few live executions are indexed, however many finished ones pile up.
                    CREATE INDEX executions_active ON executions (state)
                        WHERE state IN ('pending', 'dispatched', 'running');

                    CREATE TABLE events (
                        job_id TEXT NOT NULL,
                        sequence INTEGER NOT NULL CHECK (sequence > 0),
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        execution_id TEXT,
                        message TEXT NOT NULL,
                        PRIMARY KEY (job_id, sequence)
                    ) WITHOUT ROWID;

                    CREATE TABLE nodes (
                        id TEXT NOT NULL PRIMARY KEY,
                        info TEXT NOT NULL,
                        liveness TEXT NOT NULL,
                        last_seen INTEGER NOT NULL
                    );

                    -- A rowid table: log chunks can be large, which WITHOUT ROWID tables handle badly.
                    CREATE TABLE logs (
                        job_id TEXT NOT NULL,
                        sequence INTEGER NOT NULL CHECK (sequence > 0),
                        execution_id TEXT NOT NULL,
                        stream TEXT NOT NULL,
                        text TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        PRIMARY KEY (job_id, sequence)
                    );

                    CREATE TABLE results (
                        job_id TEXT NOT NULL,
                        "partition" INTEGER NOT NULL CHECK ("partition" >= 0),
                        execution_id TEXT NOT NULL,
                        node_id TEXT NOT NULL,
                        files TEXT NOT NULL,
                        accepted_at INTEGER NOT NULL,
                        PRIMARY KEY (job_id, "partition")
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: idempotency keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE idempotency_keys (
                        key TEXT PRIMARY KEY,
                        job_id TEXT NOT NULL,
                        created_at INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3: execution versions") { db in
            try db.execute(sql: "ALTER TABLE executions ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
        }
        // Jobs stored before namespaces existed belong to `default`, as their specs decode. A
        // column of its own (the spec holds it too) so jobs can be listed per namespace.
        migrator.registerMigration("v4: job namespaces") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN namespace TEXT NOT NULL DEFAULT 'default';
                    CREATE INDEX jobs_namespace ON jobs (namespace, created_at, id);
                    """)
        }
        migrator.registerMigration("v5: api tokens") { db in
            // Only the secret's SHA-256 is stored; `scopes` is a sorted, comma-separated list.
            try db.execute(
                sql: """
                    CREATE TABLE api_tokens (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        namespace TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        expires_at INTEGER,
                        revoked_at INTEGER,
                        secret_hash TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v6: node identities") { db in
            // Join tokens keep only their secret's SHA-256; labels are JSON objects. A node's
            // request is unique per join token and public key, which makes asking again idempotent.
            try db.execute(
                sql: """
                    CREATE TABLE join_tokens (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        max_uses INTEGER NOT NULL,
                        uses INTEGER NOT NULL,
                        labels TEXT NOT NULL,
                        manual_approval INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        revoked_at INTEGER,
                        secret_hash TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE node_identities (
                        node_id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        state TEXT NOT NULL,
                        join_token_id TEXT NOT NULL,
                        public_key_digest TEXT NOT NULL,
                        request_pem TEXT NOT NULL,
                        labels TEXT NOT NULL,
                        requested_at INTEGER NOT NULL,
                        decided_at INTEGER,
                        certificate_expires_at INTEGER,
                        UNIQUE (join_token_id, public_key_digest)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v7: node drain") { db in
            try db.execute(sql: "ALTER TABLE nodes ADD COLUMN draining INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }
}
