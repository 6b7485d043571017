/**
 * The Python peers: Debian's python3-torch, python3-opencv and python3-pandas run by the system
 * interpreter (not a pyenv one on PATH, which lacks the Debian packages). Installed when missing and
 * when we may (root + apt-get); otherwise the table says which peer is unavailable.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pinned, ROOT, run } from './proc.ts';

export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
export const PY_DIR = join(ROOT, 'bench', 'py');

export type PeerName = 'torch' | 'cv2' | 'pandas';
const APT: Record<PeerName, string> = { torch: 'python3-torch', cv2: 'python3-opencv', pandas: 'python3-pandas' };

export interface PeerStatus {
  /** Version string when importable, else null. */
  versions: Record<PeerName, string | null>;
  /** Why a peer is missing (import error or install failure). */
  problems: Partial<Record<PeerName, string>>;
}

export async function probePeers(): Promise<PeerStatus> {
  const versions: Record<PeerName, string | null> = { torch: null, cv2: null, pandas: null };
  const problems: Partial<Record<PeerName, string>> = {};
  if (!existsSync(PYTHON)) {
    for (const p of Object.keys(versions) as PeerName[]) problems[p] = `${PYTHON} not found`;
    return { versions, problems };
  }
  await Promise.all(
    (Object.keys(versions) as PeerName[]).map(async (p) => {
      const r = await run(PYTHON, ['-c', `import ${p}; print(${p}.__version__)`], { timeoutMs: 60_000 });
      if (r.code === 0) versions[p] = r.stdout.trim();
      else problems[p] = r.stderr.trim().split('\n').pop() ?? `import ${p} failed`;
    }),
  );
  return { versions, problems };
}

/** apt-get installs the missing peers (root only); returns the probe after trying. */
export async function ensurePeers(log: (s: string) => void, allowInstall: boolean): Promise<PeerStatus> {
  let status = await probePeers();
  const missing = (Object.keys(status.versions) as PeerName[]).filter((p) => !status.versions[p]);
  if (missing.length === 0) return status;
  const why = (reason: string) => {
    for (const p of missing) status.problems[p] = `${status.problems[p] ?? 'missing'}; not installed: ${reason}`;
    return status;
  };
  if (!allowInstall) return why('--no-install');
  if (process.getuid?.() !== 0) return why(`run as root or: apt-get install -y ${missing.map((p) => APT[p]).join(' ')}`);
  if (!existsSync('/usr/bin/apt-get')) return why('no apt-get on this machine');
  log(`installing Python peers: ${missing.map((p) => APT[p]).join(' ')} (apt-get, a few minutes) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = await run('apt-get', ['update'], { env, timeoutMs: 600_000 });
  if (upd.code !== 0) log(`apt-get update failed: ${upd.stderr.trim().split('\n').pop()}`);
  const inst = await run('apt-get', ['install', '-y', ...missing.map((p) => APT[p])], { env, timeoutMs: 1_200_000 });
  status = await probePeers();
  if (inst.code !== 0) {
    const msg = inst.stderr.trim().split('\n').pop() ?? 'apt-get install failed';
    for (const p of missing) if (!status.versions[p]) status.problems[p] = `apt-get install failed: ${msg}`;
  }
  return status;
}

export class PeerError extends Error {}

/** Runs a bench/py script and parses the JSON object it prints on its last stdout line. */
export async function runPy<T>(
  script: string,
  args: string[],
  opts: { timeoutMs?: number; cpu?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<T> {
  const [cmd, argv] = opts.cpu ? pinned(opts.cpu, PYTHON, [join(PY_DIR, script), ...args]) : [PYTHON, [join(PY_DIR, script), ...args]];
  const r = await run(cmd, argv, { timeoutMs: opts.timeoutMs ?? 600_000, env: { ...process.env, ...opts.env } });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0) throw new PeerError(`${script} failed (${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new PeerError(`${script}: no JSON result on stdout (got '${last.slice(0, 200)}')`);
  }
}
