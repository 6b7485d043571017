/**
 * What survives a kill: each unfinished run's key, batch counter and phase in
 * `<stateDir>/runs/<run-key>.json` (run-lock.ts keeps two runs from sharing a state folder).
 * A restart resumes the interrupted run under the same key, so its CSV and metrics stay one run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileSafe, writeFileAtomic } from './fsutil.ts';

export interface RunState {
  version: 1;
  runKey: string;
  startedAt: string;
  /** `running` until the scan is done; `finishing` while batches wait in the outbox or completion is owed. */
  phase: 'running' | 'finishing';
  nextBatchIndex: number;
  processMs: number;
  roots: string[];
  reprocess: boolean;
}

/** e.g. `20261121T180003Z-3f9a`: sorts by start time, fits the contract's RunKey pattern. */
export function newRunKey(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export class RunStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'runs');
    mkdirSync(this.dir, { recursive: true });
  }

  save(state: RunState): void {
    writeFileAtomic(join(this.dir, `${fileSafe(state.runKey)}.json`), JSON.stringify(state, null, 1));
  }

  all(): RunState[] {
    const out: RunState[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const s = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as RunState;
        if (s.version === 1 && s.runKey) out.push(s);
      } catch {
        // written atomically, so only a foreign file can fail here; ignore it
      }
    }
    return out;
  }

  /** The run a kill interrupted mid-scan, if any. */
  interrupted(): RunState | undefined {
    return this.all().find((s) => s.phase === 'running');
  }

  remove(runKey: string): void {
    const p = join(this.dir, `${fileSafe(runKey)}.json`);
    if (existsSync(p)) unlinkSync(p);
  }
}
