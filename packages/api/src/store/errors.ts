/**
 * Store failures as errors with a stable code. At start they name the file or URL (the operator
 * must act on it); during a request they become a 503 whose body says what kind of failure it was,
 * never a driver message or stack.
 */
import { AppError } from '@refund-vision/shared';

export type StoreErrorCode =
  | 'store-missing'
  | 'store-empty'
  | 'store-damaged'
  | 'store-read-only'
  | 'store-full'
  | 'store-busy'
  | 'store-schema'
  | 'store-migration'
  | 'store-unavailable';

export class StoreError extends AppError {
  constructor(code: StoreErrorCode, message: string) {
    super(503, code, message);
    this.name = 'StoreError';
  }
}

/** The stable code for a better-sqlite3 / pg / Kysely failure, or undefined when it is not one of the store's. */
export function storeErrorCode(err: unknown): StoreErrorCode | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return 'store-damaged';
  if (/^SQLITE_READONLY/.test(code) || code === '25006') return 'store-read-only';
  if (code === 'SQLITE_FULL' || code === '53100') return 'store-full';
  if (/^SQLITE_(BUSY|LOCKED)/.test(code) || code === '55P03' || code === '40P01') return 'store-busy';
  if (/^SQLITE_(IOERR|CANTOPEN|PERM|AUTH)/.test(code)) return 'store-unavailable';
  // Postgres: connection exceptions, shutdown, resources; node's socket errors; pg-pool's own.
  if (/^(08|57P|53)/.test(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND|AI_AGAIN)$/.test(code))
    return 'store-unavailable';
  if (
    /Connection terminated|timeout exceeded when trying to connect|driver has already been destroyed|database connection is not open/i.test(
      message,
    )
  )
    return 'store-unavailable';
  return undefined;
}

const REQUEST_MESSAGES: Record<StoreErrorCode, string> = {
  'store-missing': 'the metrics store is missing',
  'store-empty': 'the metrics store is empty',
  'store-damaged': 'the metrics store is damaged; the operator has to restore it',
  'store-read-only': 'the metrics store is read-only',
  'store-full': 'the metrics store is out of space',
  'store-busy': 'the metrics store is busy; retry later',
  'store-schema': 'the metrics store has the wrong schema version',
  'store-migration': 'the metrics store could not be migrated',
  'store-unavailable': 'the metrics store is unavailable; retry later',
};

/** A store failure during a request as a 503 with a stable code; undefined for anything else. */
export function storeFailure(err: unknown): AppError | undefined {
  if (err instanceof StoreError) return new AppError(503, err.code, REQUEST_MESSAGES[err.code as StoreErrorCode] ?? err.message);
  const code = storeErrorCode(err);
  return code ? new AppError(503, code, REQUEST_MESSAGES[code]) : undefined;
}

/** A failure while opening or migrating, as a StoreError naming the store. */
export function describeDriverError(err: unknown, location: string, fallback: StoreErrorCode = 'store-unavailable'): StoreError {
  const code = storeErrorCode(err) ?? fallback;
  const what = (err as Error)?.message ?? String(err);
  const lead: Partial<Record<StoreErrorCode, string>> = {
    'store-damaged': 'is damaged or not a SQLite database',
    'store-read-only': 'is read-only; the API must write it',
    'store-full': 'has no space left',
    'store-busy': 'stayed locked by another process',
    'store-migration': 'could not be migrated',
  };
  return new StoreError(code, `the metrics database ${location} ${lead[code] ?? 'cannot be used'} (${what})`);
}
