/** Child processes for the bench: run with a timeout, start the API, sample RSS of a process tree. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../packages/shared/src/proc.ts';

/** The repository root (bench/ lives directly under it). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak RSS of the process tree in bytes, when sampling was asked for. */
  peakRss?: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Sample the RSS of the child and its descendants every this many ms. */
  rssEveryMs?: number;
  input?: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRss = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    const sampler = opts.rssEveryMs
      ? setInterval(() => {
          if (child.pid) peakRss = Math.max(peakRss, treeRss(child.pid));
        }, opts.rssEveryMs)
      : undefined;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n[bench] killed after ${opts.timeoutMs} ms`;
          killTree(child);
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      clearInterval(sampler);
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, ...(opts.rssEveryMs ? { peakRss } : {}) });
    });
  });
}

/** Process and all its descendants, found through /proc/<pid>/stat parent links. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const kids = parents.get(ppid) ?? [];
      kids.push(Number(ent));
      parents.set(ppid, kids);
    } catch {
      /* process ended while we looked */
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(parents.get(p) ?? []));
  }
  return out;
}

/** Resident set size in bytes of one process (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function treeRss(pid: number): number {
  return processTree(pid).reduce((a, p) => a + rssOf(p), 0);
}

export function killTree(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!child.pid) return;
  for (const p of processTree(child.pid).reverse()) {
    try {
      process.kill(p, signal);
    } catch {
      /* already gone */
    }
  }
}

export { freePort };

/** Polls `url` until it answers 200; resolves with the ms from `t0` (performance.now()). */
export async function waitFor200(
  url: string,
  t0: number,
  timeoutMs: number,
  isDead: () => string | undefined,
  everyMs = 10,
): Promise<number> {
  for (;;) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return performance.now() - t0;
      await res.arrayBuffer();
    } catch {
      /* not listening yet */
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${url} not 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));

/** [cmd, args] that run `cmd` pinned to one CPU with taskset (unpinned where taskset is missing). */
export function pinned(cpu: string, cmd: string, args: string[]): [string, string[]] {
  return TASKSET ? [TASKSET, ['-c', cpu, cmd, ...args]] : [cmd, args];
}

export const canPin = () => TASKSET !== undefined;

/** `node --import tsx <script>`: one process (tsx's own CLI would add a parent process). */
export function tsxArgs(script: string, args: string[] = []): string[] {
  return ['--import', 'tsx', join(ROOT, script), ...args];
}

export interface RunningApi {
  child: ChildProcess;
  url: string;
  port: number;
  readyMs: number;
  stderr: () => string;
  stop(): Promise<void>;
}

export const API_MAIN = 'packages/api/src/main.ts';

export function apiAvailable(): boolean {
  return existsSync(join(ROOT, API_MAIN));
}

/** How to start the API: a command line and the folder it runs in. */
export interface ApiCommand {
  cmd: string;
  args: string[];
  cwd: string;
}

/** The API from TypeScript source, as in development: `node --import tsx packages/api/src/main.ts`. */
export const API_FROM_SOURCE: ApiCommand = { cmd: process.execPath, args: tsxArgs(API_MAIN), cwd: ROOT };

/** The same through tsx's CLI, as `pnpm api` runs it (the CLI adds a parent process). */
export const API_VIA_TSX_CLI: ApiCommand = { cmd: join(ROOT, 'node_modules', '.bin', 'tsx'), args: [join(ROOT, API_MAIN)], cwd: ROOT };

/** The API of a `pnpm build` output as the image runs it: plain `node bin/main.mjs`, cwd = the app folder. */
export function apiFromBuild(dir: string): ApiCommand {
  return { cmd: process.execPath, args: [join(dir, 'bin', 'main.mjs')], cwd: dir };
}

/** Starts the API (from source unless told) on a free loopback port and waits for /readyz 200. */
export async function startApi(env: Record<string, string>, opts: { timeoutMs?: number; command?: ApiCommand } = {}): Promise<RunningApi> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const { cmd, args, cwd } = opts.command ?? API_FROM_SOURCE;
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = `API exited (${code ?? sig}) before ready: ${err.trim().split('\n').slice(-3).join(' | ')}`));
  const url = `http://127.0.0.1:${port}`;
  try {
    const readyMs = await waitFor200(`${url}/readyz`, t0, timeoutMs, () => exited);
    return {
      child,
      url,
      port,
      readyMs,
      stderr: () => err,
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const tree = processTree(child.pid!);
          const t = setTimeout(() => killTree(child), 5000);
          child.once('exit', () => {
            clearTimeout(t);
            // Workers of a cluster-mode API must not outlive the bench.
            for (const p of tree.slice(1)) {
              try {
                process.kill(p, 'SIGKILL');
              } catch {
                /* already gone */
              }
            }
            resolve();
          });
          child.kill('SIGTERM');
        }),
    };
  } catch (e) {
    killTree(child);
    throw e;
  }
}
