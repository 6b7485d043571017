/**
 * Batches on disk that the API has not acknowledged yet, one JSON file each in `data/outbox`,
 * written atomically BEFORE the first send. So a kill at any moment leaves every batch either
 * acknowledged (and in the ledger) or here under its original run key and batch index; the next
 * run sends these first, and the API's idempotency makes a resend of a recorded batch harmless.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { PredictRequest } from '@refund-vision/shared';
import type { ImageExtra } from './batcher.ts';
import { fileSafe, writeFileAtomic } from './fsutil.ts';

export interface OutboxEntry {
  version: 1;
  createdAt: string;
  request: PredictRequest;
  extras: ImageExtra[];
}

export class OutboxError extends Error {
  override name = 'OutboxError';
}

export class Outbox {
  readonly rejectedDir: string;

  constructor(readonly dir: string) {
    this.rejectedDir = join(dir, 'rejected');
  }

  /** What every batch file of one run starts with. */
  static runPrefix(runKey: string): string {
    return `${fileSafe(runKey)}.b`;
  }

  static fileName(runKey: string, batchIndex: number): string {
    return `${Outbox.runPrefix(runKey)}${String(batchIndex).padStart(6, '0')}.json`;
  }

  put(entry: OutboxEntry): string {
    const name = Outbox.fileName(entry.request.runKey, entry.request.batchIndex);
    writeFileAtomic(join(this.dir, name), JSON.stringify(entry));
    return name;
  }

  /** Pending batch files, oldest run first (run keys start with their UTC start time). */
  list(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir, { withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.json') && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
  }

  read(name: string): OutboxEntry {
    const text = readFileSync(join(this.dir, name), 'utf8');
    let entry: OutboxEntry;
    try {
      entry = JSON.parse(text) as OutboxEntry;
    } catch (e) {
      throw new OutboxError(`outbox file ${name} is not valid JSON: ${(e as Error).message}`);
    }
    if (entry?.version !== 1 || !entry.request?.runKey || !Array.isArray(entry.request.images)) {
      throw new OutboxError(`outbox file ${name} is not a batch this client wrote`);
    }
    return entry;
  }

  remove(name: string): void {
    try {
      unlinkSync(join(this.dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Moves a batch the API refuses for good out of the way, kept for a human to look at. */
  reject(name: string): string {
    mkdirSync(this.rejectedDir, { recursive: true });
    const to = join(this.rejectedDir, name);
    renameSync(join(this.dir, name), to);
    return to;
  }

  /** Content hashes waiting in the outbox: a scan must not batch them a second time. */
  pendingHashes(): Set<string> {
    const out = new Set<string>();
    for (const name of this.list()) {
      try {
        for (const img of this.read(name).request.images) if (img.hash) out.add(img.hash);
      } catch {
        // unreadable entries are reported when the outbox is sent
      }
    }
    return out;
  }
}
