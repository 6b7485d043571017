/**
 * Opening the store: the dialect (PostgreSQL when a postgres:// URL is given, else the embedded
 * SQLite file), the checks that refuse a damaged, empty or unwritable store with its location
 * named, and the schema: writers migrate it to the latest version through Kysely's Migrator,
 * readers open read-only and refuse a schema older than this build.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { DatabaseConnection } from 'kysely';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, sql } from './kysely.ts';
import type pg from 'pg';
import type { Config } from '@refund-vision/shared';
import { StoreError, describeDriverError } from './errors.ts';
import { MIGRATION_NAMES, migrationProvider } from './migrations/index.ts';
import type { StoreKind } from './migrations/context.ts';
import type { Tables } from './tables.ts';

export type { StoreKind };

export interface OpenStoreOptions {
  /** `postgres://…`: PostgreSQL. Otherwise `path` is used. */
  url?: string | undefined;
  /** The SQLite file (`:memory:` for a private in-memory store). */
  path?: string | undefined;
  /** Readers (the metrics CLI): no writes, no migrations; a store that is missing or too old is an error. */
  readOnly?: boolean | undefined;
}

/** The connection every repository module works on. Only modules in store/ use `db`. */
export interface StoreDatabase {
  readonly kind: StoreKind;
  /** The file path or the URL without its password: what messages name. */
  readonly location: string;
  readonly readOnly: boolean;
  readonly db: Kysely<Tables>;
  /** True once close() was called. */
  readonly closed: boolean;
  /** Migrations this opening applied (empty when the schema was already current, and for readers). */
  readonly applied: readonly string[];
  /** Every migration the store has recorded, oldest first. */
  readonly migrations: readonly string[];
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store the config names: DATABASE_URL when set, else DB_PATH. */
export function storeOptions(config: Config, readOnly = false): OpenStoreOptions {
  return { url: config.api.databaseUrl, path: config.api.dbPath, readOnly };
}

/** Several API processes may write at once: a writer waits this long for the lock rather than failing. */
const BUSY_TIMEOUT_MS = 10_000;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

const isBusy = (e: unknown) => /^SQLITE_BUSY/.test(String((e as { code?: unknown } | null)?.code ?? ''));

/**
 * The connection, waiting for another process's lock on the event loop instead of in SQLite's busy
 * handler. That handler sleeps on this thread (1, 2, 5, 10 ms … up to BUSY_TIMEOUT_MS): with two API
 * workers under batch-1 load about one BEGIN in six found the other's write lock held and slept ~2 ms
 * on average, ~6 % of each worker's time in which it parsed, inferred and answered nothing. So the
 * handle's busy timeout is 0 once the store is open (openSqliteFile): SQLITE_BUSY comes back at once,
 * and the statement is tried again after a turn of the event loop, then in 1 ms steps, so other
 * requests progress meanwhile; after BUSY_TIMEOUT_MS the error is thrown, as the handler would have.
 * Only statements SQLite says may be retried are: those outside a transaction (BEGIN IMMEDIATE and
 * single writes such as closing a run or claiming a review item) and COMMIT. A busy statement inside
 * a transaction fails at once and the transaction rolls back; in WAL mode, after BEGIN IMMEDIATE took
 * the write lock, that does not happen.
 */
function waitingForLocks(connection: DatabaseConnection, file: Database.Database): DatabaseConnection {
  return {
    async executeQuery(query) {
      const deadline = performance.now() + BUSY_TIMEOUT_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          return await connection.executeQuery(query);
        } catch (e) {
          const retryable = !file.inTransaction || /^\s*commit\b/i.test(query.sql);
          if (!isBusy(e) || !retryable || performance.now() > deadline) throw e;
        }
        await new Promise((resolve) => (attempt === 0 ? setImmediate(resolve) : setTimeout(resolve, 1)));
      }
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

/**
 * SQLite through Kysely, with three changes: every statement waits for locks on the event loop
 * (waitingForLocks); write transactions BEGIN IMMEDIATE (a deferred one that reads and then writes
 * can fail with SQLITE_BUSY at once when another process wrote in between, and could not be retried);
 * and migrations run in one transaction (SQLite DDL is transactional), so two processes starting
 * together migrate once.
 */
class StoreSqliteDialect extends SqliteDialect {
  constructor(private readonly file: Database.Database) {
    super({ database: file });
  }
  override createDriver() {
    const driver = super.createDriver();
    const acquire = driver.acquireConnection.bind(driver);
    // the driver has one connection, handed out under a mutex: one wrapper serves every acquisition
    let waiting: DatabaseConnection | undefined;
    driver.acquireConnection = async () => {
      const connection = await acquire(); // always: the acquisition is the mutex
      return (waiting ??= waitingForLocks(connection, this.file));
    };
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
  override createAdapter() {
    return new (class extends SqliteAdapter {
      override get supportsTransactionalDdl() {
        return true;
      }
    })();
  }
}

/**
 * better-sqlite3 compiles a statement on every prepare(), and Kysely prepares every query it runs;
 * the store runs the same few statements over and over (a full batch's INSERT is one long text), so
 * compiled statements are kept by their SQL text. Kysely holds the one connection under a mutex, so a
 * cached statement is never in use twice at once.
 */
function cachingPrepare(db: Database.Database, size = 256): Database.Database {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (stmt) {
      cache.delete(source); // re-insert: Map order is the LRU order
    } else {
      stmt = prepare(source);
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, stmt);
    return stmt;
  }) as Database.Database['prepare'];
  return db;
}

/** SQLite's page cache per connection, in KiB (SQLite's default; see openSqliteFile). */
const SQLITE_PAGE_CACHE_KIB = 2000;

function openSqliteFile(path: string, readOnly: boolean): Database.Database {
  const memory = path === ':memory:';
  if (!memory) {
    if (!existsSync(path)) {
      if (readOnly) throw new StoreError('store-missing', `no metrics database at ${path}`);
      mkdirSync(dirname(path), { recursive: true });
    } else if (statSync(path).size === 0) {
      // A store that ever held history is never empty: this one was truncated or replaced.
      throw new StoreError(
        'store-empty',
        `the metrics database ${path} is an empty file (0 bytes), so its history is gone; refusing to start on it. ` +
          'Restore it from a backup, or move it away to start a new, empty history.',
      );
    }
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: readOnly, fileMustExist: readOnly, timeout: BUSY_TIMEOUT_MS });
    if (!readOnly && !memory) {
      // SQLite silently opens a file it may not write read-only; say so now, not at the first batch.
      for (const p of [path, dirname(path)]) {
        try {
          accessSync(p, constants.W_OK);
        } catch (e) {
          throw new StoreError(
            'store-read-only',
            `the metrics database ${path} is read-only (${p}: ${(e as NodeJS.ErrnoException).code}); the API must write it`,
          );
        }
      }
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection (SQLite's own default is
    // 2 MB). The API appends batches and looks up recent ones, so a larger cache only fills with
    // pages written once: under steady load RSS crept up ~14 MB over 10,000 batch-1 requests (bench
    // row 7a), and at 2 MB it stays flat with the same throughput (batch 100, 4 connections: 732–865
    // img/s against 632–782 at 16 MB, three alternating pairs).
    db.pragma(`cache_size = -${SQLITE_PAGE_CACHE_KIB}`);
    const problems = (db.pragma('quick_check(3)') as { quick_check: string }[]).map((r) => r.quick_check);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      const said = problems.flatMap((p) => p.split('\n')).slice(0, 3);
      throw new StoreError(
        'store-damaged',
        `the metrics database ${path} is damaged (integrity check: ${said.join('; ')}); refusing to use it. ` +
          'Restore it from a backup, or recover what is readable with `sqlite3 FILE .recover`.',
      );
    }
    // From here every statement goes through Kysely, which waits for locks on the event loop
    // (waitingForLocks); the opening above may wait in SQLite's handler, before any request is served.
    db.pragma('busy_timeout = 0');
    return db;
  } catch (e) {
    db?.close();
    throw e instanceof StoreError ? e : describeDriverError(e, path);
  }
}

/** int8 (counts, sums of integers) and numeric arrive as strings from pg; every such value here fits a double. */
const pgTypes = (driver: typeof pg) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700 ? (v: string) => Number(v) : driver.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
});

async function executedMigrations(db: Kysely<any>): Promise<string[] | undefined> {
  try {
    const rows = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
    return rows.map((r) => r.name as string);
  } catch {
    return undefined; // no migration table: never migrated by this code
  }
}

export async function openDatabase(opts: OpenStoreOptions): Promise<StoreDatabase> {
  const readOnly = opts.readOnly ?? false;
  const kind: StoreKind = opts.url ? 'postgres' : 'sqlite';
  let location: string;
  let db: Kysely<Tables>;
  if (opts.url) {
    location = redactUrl(opts.url);
    // loaded only for a PostgreSQL store: the embedded SQLite default does not pay for its import
    const driver = (await import('pg')).default;
    const pool = new driver.Pool({
      connectionString: opts.url,
      max: 10,
      connectionTimeoutMillis: 10_000,
      types: pgTypes(driver),
      ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // An idle connection that drops must not end the process; the next query reports the failure.
    pool.on('error', () => {});
    // Same for a connection that is checked out when the server goes away (Postgres restarted or
    // killed): pg emits 'error' on that client, with no listener that is an uncaught exception that
    // ends the process; the query running on it is rejected with the reason anyway.
    pool.on('connect', (client) => client.on('error', () => {}));
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`select 1`.execute(db);
    } catch (e) {
      await db.destroy();
      throw new StoreError('store-unavailable', `cannot reach PostgreSQL at ${location}: ${(e as Error).message}`);
    }
  } else {
    if (!opts.path) throw new StoreError('store-missing', 'no store configured: set DB_PATH or DATABASE_URL');
    location = opts.path;
    const file = cachingPrepare(openSqliteFile(opts.path, readOnly));
    db = new Kysely<Tables>({ dialect: new StoreSqliteDialect(file) });
  }

  const applied: string[] = [];
  let done: string[] | undefined;
  try {
    if (!readOnly) {
      const { error, results } = await new Migrator({ db, provider: migrationProvider(kind) }).migrateToLatest();
      if (error) throw describeDriverError(error, location, 'store-migration');
      for (const r of results ?? []) if (r.status === 'Success') applied.push(r.migrationName);
    }
    done = await executedMigrations(db);
    const missing = MIGRATION_NAMES.filter((n) => !done?.includes(n));
    if (missing.length) {
      throw new StoreError(
        'store-schema',
        `the metrics database ${location} ${done ? `lacks schema migrations ${missing.join(', ')}` : 'has no schema this version can read'}: ` +
          'start the API once (it migrates the store), then read it',
      );
    }
  } catch (e) {
    await db.destroy();
    throw e instanceof StoreError ? e : describeDriverError(e, location);
  }

  let closed = false;
  return {
    kind,
    location,
    readOnly,
    db,
    applied,
    migrations: done ?? [],
    get closed() {
      return closed;
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
