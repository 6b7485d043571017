/**
 * The content hashes the client has finished with, in `<stateDir>/ledger.jsonl`. Append-only and
 * fsynced per batch: a kill can at worst tear the last line, which is ignored on load, and the
 * images it named are simply sent again under their old idempotency key (the outbox keeps it).
 * A file is known by its bytes, so renaming or moving it does not make it new.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendDurable, parseJsonLines } from './fsutil.ts';

export type LedgerStatus = 'classified' | 'failed';

export interface LedgerEntry {
  hash: string;
  status: LedgerStatus;
  id: string;
  run: string;
  at: string;
  reason?: string;
}

export class Ledger {
  readonly path: string;
  private readonly known = new Map<string, LedgerStatus>();

  constructor(stateDir: string) {
    this.path = join(stateDir, 'ledger.jsonl');
    if (existsSync(this.path)) {
      for (const e of parseJsonLines<LedgerEntry>(readFileSync(this.path, 'utf8'))) {
        if (typeof e?.hash === 'string') this.known.set(e.hash, e.status);
      }
    }
  }

  has(hash: string): boolean {
    return this.known.has(hash);
  }

  status(hash: string): LedgerStatus | undefined {
    return this.known.get(hash);
  }

  get size(): number {
    return this.known.size;
  }

  /** Records entries durably; returns only after the bytes are on disk. */
  add(entries: Omit<LedgerEntry, 'at'>[]): void {
    if (!entries.length) return;
    const at = new Date().toISOString();
    appendDurable(this.path, entries.map((e) => JSON.stringify({ ...e, at })).join('\n') + '\n');
    for (const e of entries) this.known.set(e.hash, e.status);
  }
}

/** SHA-256 of a file's bytes, streamed so large files never load whole. */
export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => h.update(chunk))
      .on('end', () => resolve(h.digest('hex')));
  });
}
