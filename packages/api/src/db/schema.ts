/**
 * The metrics store's schema, versioned: migration N moves a database from user_version N-1 to N.
 * Append new migrations; never edit one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1 — runs, batches (exactly-once), predictions, per-class stats, feedback
  `
  CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    run_key         TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL CHECK (source IN ('client','legacy','v2','upload')),
    model_version   TEXT NOT NULL,
    engine          TEXT,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','completed')),
    started_at      TEXT NOT NULL,            -- ISO 8601 UTC
    finished_at     TEXT,
    images          INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    process_ms      REAL,                     -- client wall time for the run (server time for one-shot runs)
    inference_ms    REAL NOT NULL DEFAULT 0,  -- model time only, summed over batches
    server_ms       REAL NOT NULL DEFAULT 0,  -- request handling time, summed over batches
    confidence_sum  REAL NOT NULL DEFAULT 0,
    labelled        INTEGER NOT NULL DEFAULT 0,
    correct         INTEGER NOT NULL DEFAULT 0,
    pixel_sum       REAL NOT NULL DEFAULT 0,  -- Σ pixel/255 of every image sent
    pixel_sumsq     REAL NOT NULL DEFAULT 0,
    pixel_near_zero INTEGER NOT NULL DEFAULT 0, -- pixels < NEAR_ZERO_THRESHOLD
    pixel_count     INTEGER NOT NULL DEFAULT 0,
    health          TEXT CHECK (health IN ('OK','WARN','ALERT')),
    checks_json     TEXT                      -- HealthCheck[] set when the run completes
  );
  CREATE INDEX runs_started_at ON runs(started_at);

  CREATE TABLE batches (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    batch_index     INTEGER NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,            -- sha-256 of the canonical request, to refuse a different body under the same key
    images          INTEGER NOT NULL,
    inference_ms    REAL NOT NULL,
    total_ms        REAL NOT NULL,
    response_json   TEXT NOT NULL,            -- the stored answer, replayed on a retry
    created_at      TEXT NOT NULL,
    UNIQUE (run_id, batch_index)
  );
  CREATE UNIQUE INDEX batches_idempotency_key ON batches(idempotency_key) WHERE idempotency_key IS NOT NULL;

  CREATE TABLE predictions (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    batch_id        INTEGER NOT NULL REFERENCES batches(id),
    position        INTEGER NOT NULL,         -- index within the batch
    image_id        TEXT NOT NULL,
    image_group     TEXT,
    content_hash    TEXT,
    class_index     INTEGER NOT NULL,
    confidence      REAL NOT NULL,
    top3_json       TEXT NOT NULL,
    label           INTEGER,                  -- true class when the client knew it
    created_at      TEXT NOT NULL
  );
  CREATE INDEX predictions_run ON predictions(run_id, id);

  -- Updated with every batch so history queries never scan predictions.
  CREATE TABLE run_class_stats (
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    class_index     INTEGER NOT NULL,
    count           INTEGER NOT NULL DEFAULT 0,
    confidence_sum  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, class_index)
  ) WITHOUT ROWID;

  CREATE TABLE feedback (
    id              INTEGER PRIMARY KEY,
    prediction_id   INTEGER NOT NULL UNIQUE REFERENCES predictions(id), -- the latest word on a prediction wins
    correct_class   INTEGER NOT NULL CHECK (correct_class BETWEEN 0 AND 9),
    created_at      TEXT NOT NULL
  );
  `,
  // 2 — images the client saw in the run (sent + could not send), from the completion call
  `ALTER TABLE runs ADD COLUMN images_seen INTEGER;`,
];
