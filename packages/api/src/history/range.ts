/** Time ranges for history queries: ISO `from`/`to`, `days` back from now, or a CLI `--since 30d`. */
import { badRequest } from '@refund-vision/shared';

export interface TimeRange {
  /** ISO time, inclusive. */
  from?: string | undefined;
  /** ISO time, exclusive. */
  to?: string | undefined;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** The time syntax every range takes (GET /v1/runs too): an ISO date or date-time. */
export const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Epoch ms of an ISO_TIME value (NaN when it is no real date); a bare date as the end of a range means the whole of that day. */
export function rangeBoundMs(value: string, endOfDay: boolean): number {
  return Date.parse(value) + (endOfDay && value.length === 10 ? 86_400_000 : 0);
}

/** An ISO date or date-time, normalised to full ISO UTC; throws a 400 naming `what` otherwise. */
export function parseTime(value: unknown, what: string, endOfDay = false): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !ISO_TIME.test(value)) {
    throw badRequest('invalid_time', `${what}: expected an ISO date such as 2026-11-01 or 2026-11-01T18:00:00Z`);
  }
  const t = rangeBoundMs(value, endOfDay);
  if (Number.isNaN(t)) throw badRequest('invalid_time', `${what}: '${value}' is not a valid date`);
  return new Date(t).toISOString();
}

export function parseRange(query: Record<string, unknown>): TimeRange {
  const from = parseTime(query.from, 'from');
  const to = parseTime(query.to, 'to', true);
  if (from && to && from >= to) throw badRequest('invalid_range', `from (${from}) must be before to (${to})`);
  return { from, to };
}

/** "30d", "12h", "2w", "90m" or an ISO date → the ISO start of the range. */
export function parseSince(value: string, now = Date.now()): string {
  const m = /^(\d{1,6})\s*([mhdw])$/.exec(value.trim());
  if (m) return new Date(now - Number(m[1]) * UNIT_MS[m[2]!]!).toISOString();
  const t = parseTime(value.trim(), 'since');
  if (!t) throw badRequest('invalid_time', 'since: expected e.g. 30d, 12h, 2w or an ISO date');
  return t;
}

/** `days` (1–3660, default `fallback`) back from now. */
export function parseDays(value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > 3660)
    throw badRequest('invalid_days', 'days: a whole number from 1 to 3660');
  return n;
}
