/** Reads the events log back (`pnpm events`): every rotated `events-<date>.log`, filtered. */
import { createReadStream, existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { eventLogPath, parseEventLine, type Level, type ParsedEvent } from '@refund-vision/shared';

const SEVERITY: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface EventFilter {
  /** At least this severe: `warn` means warnings and errors. */
  level?: Level;
  since?: Date;
  run?: string;
  component?: string;
}

/** `1d`, `12h`, `30m`, `45s`, `2w`, or an ISO date/time. */
export function parseSince(value: string, now = new Date()): Date {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(value.trim());
  if (m) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[m[2]!.toLowerCase() as 's']!;
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new RangeError(`--since: expected a duration like 1d, 12h, 30m or a date, got ${JSON.stringify(value)}`);
  return new Date(t);
}

/** Log files oldest first; the `events.log` link is skipped when it points at a dated file. */
export function eventFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir);
  const dated = names.filter((n) => /^events-\d{4}-\d{2}-\d{2}\.log$/.test(n)).sort();
  const plain = eventLogPath(dir);
  const extra = existsSync(plain) && !lstatSync(plain).isSymbolicLink() ? [plain] : [];
  return [...dated.map((n) => join(dir, n)), ...extra];
}

export function matches(e: ParsedEvent, f: EventFilter): boolean {
  if (f.level && SEVERITY[e.level] > SEVERITY[f.level]) return false;
  if (f.run && e.run !== f.run) return false;
  if (f.component && e.component !== f.component) return false;
  if (f.since && Date.parse(e.time) < f.since.getTime()) return false;
  return true;
}

export async function* readEvents(dir: string, filter: EventFilter = {}): AsyncGenerator<ParsedEvent> {
  const sinceDay = filter.since?.toISOString().slice(0, 10);
  for (const file of eventFiles(dir)) {
    const day = /events-(\d{4}-\d{2}-\d{2})\.log$/.exec(file)?.[1];
    // Files are named by local date; allow a day's slack for the time zone.
    if (sinceDay && day && day < new Date(Date.parse(sinceDay) - 8.64e7).toISOString().slice(0, 10)) continue;
    const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of rl) {
      const e = parseEventLine(line);
      if (e && matches(e, filter)) yield e;
    }
  }
}
