/**
 * `<stateDir>/run.lock`: one client run per state folder, taken atomically.
 *
 * The lock file appears complete or not at all: the pid is written to a private temp file first,
 * which is then hard-linked to `run.lock` (link fails with EEXIST when the lock is held). So a
 * reader never sees a lock without its owner's pid — the old create-then-write left a window in
 * which a second process read an empty pid, judged the owner dead and took the lock as well.
 *
 * A lock whose pid is dead (a killed run) is taken over. Taking over is itself serialized by a
 * short-lived guard (`run.lock.takeover`, taken the same way) and the lock is re-read under it,
 * so two processes that both saw the same stale lock cannot both remove it: the second one finds
 * the first one's live lock instead.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '@refund-vision/shared';

export class RunLockedError extends Error {
  constructor(readonly pid: number) {
    super(`another client run (pid ${pid}) is using this state folder`);
    this.name = 'RunLockedError';
  }
}

/** The pid in a lock file; undefined when the file is gone, 0 when it holds no valid pid. */
function readPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}

const STALE_GUARD_MS = 2000;

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Creates `path` holding our pid, atomically; false when it already exists. */
function linkPidFile(path: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, String(process.pid));
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkQuiet(tmp);
  }
}

/** Lock paths this process holds: our own pid in a lock we do not hold is a previous
 * incarnation's (pids repeat across container restarts), so it is stale like any dead one. */
const held = new Set<string>();
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Held by a live process, or by this one. */
function heldByOther(pid: number | undefined, path: string): pid is number {
  if (pid === undefined || pid <= 0) return false;
  return pid === process.pid ? held.has(path) : processAlive(pid);
}

/** Removes `lock` if its owner is dead, with the takeover guard held. */
function removeIfStale(lock: string): void {
  const guard = `${lock}.takeover`;
  if (!linkPidFile(guard)) {
    // Someone else is taking over right now (microseconds): let it finish. Unlinking here is only
    // for a guard whose taker died in those microseconds, and only once it is clearly old, because
    // a guard that vanished and was taken again between our read and our unlink would be lost.
    const pid = readPid(guard);
    if (pid !== undefined && !heldByOther(pid, guard) && ageMs(guard) > STALE_GUARD_MS) unlinkQuiet(guard);
    else Atomics.wait(pause, 0, 0, 1);
    return;
  }
  held.add(guard);
  try {
    // Never unlink a lock that was gone when we looked: it may be someone's fresh one by now.
    const pid = readPid(lock);
    if (pid !== undefined && !heldByOther(pid, lock)) unlinkQuiet(lock);
  } finally {
    held.delete(guard);
    unlinkQuiet(guard);
  }
}

/** Takes `<stateDir>/run.lock` or throws RunLockedError; returns the release function. */
export function acquireLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, 'run.lock');
  // Each pass either takes the lock, finds a live owner, or clears a dead one; passes only repeat
  // while the lock changes hands under us, which ends within milliseconds.
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    if (linkPidFile(path)) {
      held.add(path);
      return () => {
        if (!held.delete(path)) return;
        if (readPid(path) === process.pid) unlinkQuiet(path);
      };
    }
    const pid = readPid(path);
    if (heldByOther(pid, path)) throw new RunLockedError(pid);
    if (pid !== undefined) removeIfStale(path); // else it was released meanwhile: try again
  }
  throw new Error(`cannot take ${path}: it keeps changing hands`);
}
