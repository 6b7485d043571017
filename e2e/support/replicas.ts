/**
 * Several real API processes (`packages/api/src/main.ts`) sharing one store, for the client's
 * failover tests. With `netns` each replica runs in its own network namespace joined to this one by
 * a veth pair (addresses 10.231.<n>.1 here and .2 there, n from this process's pid so that two test
 * runs on one machine do not collide; nothing else is touched), so "cutting its
 * link" is a real link going down; where namespaces are not permitted the replicas listen on
 * loopback ports and a cut is a SIGSTOP/SIGCONT of the process (requests hang the same way).
 * PostgreSQL is reached over its unix socket, which namespaces do not separate.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ENV_KEYS, projectRoot, freePort } from '@refund-vision/shared';
import { modelDir } from './api.ts';

export interface ApiProcess {
  url: string;
  proc: ChildProcess;
  out: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Makes it unreachable for `ms` (link down, or stopped), then back. */
  cut(ms: number): Promise<void>;
}

export interface Replicas {
  mode: 'netns' | 'loopback';
  apis: ApiProcess[];
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  count: number;
  /** Root folder of the replicas' logs (and the SQLite file when no databaseUrl). */
  dir: string;
  apiKey: string;
  /** A shared PostgreSQL store; otherwise one SQLite file in `dir`. */
  databaseUrl?: string;
  /** Try network namespaces (falls back to loopback where `ip netns` is not permitted). */
  netns?: boolean;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

const subnet = (i: number) => `10.231.${(process.pid % 60) * 4 + i}`;

/** Namespace `ns` with veth `host` (<subnet>.1) ↔ `eth0` inside (<subnet>.2); false when not permitted. */
function makeNamespace(ns: string, host: string, i: number): boolean {
  try {
    ip('netns', 'add', ns);
  } catch {
    return false;
  }
  const peer = `${host}p`;
  try {
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', ns);
    ip('-n', ns, 'link', 'set', peer, 'name', 'eth0');
    ip('addr', 'add', `${subnet(i)}.1/30`, 'dev', host);
    ip('-n', ns, 'addr', 'add', `${subnet(i)}.2/30`, 'dev', 'eth0');
    ip('link', 'set', host, 'up');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return true;
  } catch {
    dropNamespace(ns, host); // namespaces but no veth (a restricted container): loopback instead
    return false;
  }
}

function dropNamespace(ns: string, host: string): void {
  for (const args of [
    ['link', 'del', host],
    ['netns', 'del', ns],
  ]) {
    try {
      ip(...args);
    } catch {
      // already gone
    }
  }
}

async function waitReady(api: ApiProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (api.proc.exitCode !== null) throw new Error(`API at ${api.url} exited at start:\n${api.out()}`);
    try {
      const res = await fetch(`${api.url}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`API at ${api.url} not ready after ${ms} ms:\n${api.out()}`);
}

export async function startReplicas(opts: ReplicaOptions): Promise<Replicas> {
  const tag = (process.pid % 10000).toString(36);
  const namespaces: { ns: string; host: string }[] = [];
  const apis: ApiProcess[] = [];
  let mode: Replicas['mode'] = 'loopback';
  if (opts.netns) {
    mode = 'netns';
    for (let i = 0; i < opts.count && mode === 'netns'; i++) {
      const n = { ns: `rv-${tag}-${i}`, host: `rvh${tag}${i}` };
      if (makeNamespace(n.ns, n.host, i)) namespaces.push(n);
      else mode = 'loopback';
    }
    if (mode === 'loopback') namespaces.splice(0).forEach((n) => dropNamespace(n.ns, n.host));
  }
  const stop = async () => {
    for (const a of apis) {
      if (a.proc.exitCode === null && a.proc.signalCode === null) {
        a.proc.kill('SIGCONT');
        a.proc.kill('SIGKILL');
      }
      await a.exited;
    }
    for (const n of namespaces) dropNamespace(n.ns, n.host);
  };
  try {
    for (let i = 0; i < opts.count; i++) {
      const host = mode === 'netns' ? `${subnet(i)}.2` : '127.0.0.1';
      const port = mode === 'netns' ? 5000 : await freePort();
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const k of [...Object.keys(ENV_KEYS), 'RV_CONFIG']) delete env[k];
      Object.assign(env, {
        RV_ROOT: opts.dir,
        HOST: host,
        PORT: String(port),
        API_KEY: opts.apiKey,
        MODEL_DIR: modelDir(),
        LOG_DIR: join(opts.dir, `api-${i}-logs`),
        LOG_LEVEL: 'warn',
        ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : { DB_PATH: join(opts.dir, 'rv.db') }),
      });
      const node = [process.execPath, '--import', 'tsx', join(projectRoot(), 'packages', 'api', 'src', 'main.ts')];
      // `ip netns exec` execs node itself (no shell in between), so a SIGKILL reaches the API.
      const cmd = mode === 'netns' ? ['ip', 'netns', 'exec', namespaces[i]!.ns, ...node] : node;
      const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: projectRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        proc.on('exit', (code, signal) => r({ code, signal })),
      );
      // The link is cut on the namespace's side: the host side stays up, so its route stays and
      // packets are dropped there (with the host side down, the route would vanish and requests
      // would wander off to the default gateway instead of hanging).
      const link = namespaces[i]?.ns;
      const api: ApiProcess = {
        url: `http://${host}:${port}`,
        proc,
        out: () => out,
        exited,
        async cut(ms) {
          if (link) ip('-n', link, 'link', 'set', 'eth0', 'down');
          else proc.kill('SIGSTOP');
          await new Promise((r) => setTimeout(r, ms));
          if (link) ip('-n', link, 'link', 'set', 'eth0', 'up');
          else proc.kill('SIGCONT');
        },
      };
      apis.push(api);
      // One at a time: the first one creates the schema, the others find it.
      await waitReady(api, 120_000);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { mode, apis, stop };
}

/** Every prediction id the store holds for a run, read page by page through one replica's HTTP API. */
export async function recordedIds(apiUrl: string, apiKey: string, runKey: string): Promise<{ ids: string[]; status: string }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  let status = '';
  for (;;) {
    const q = new URLSearchParams({ limit: '1000', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${apiUrl}/v1/runs/${encodeURIComponent(runKey)}?${q}`, { headers: { authorization: `Bearer ${apiKey}` } });
    if (res.status !== 200) throw new Error(`GET /v1/runs/${runKey}: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { run: { status: string }; predictions: { id: string }[]; nextCursor?: string | null };
    status = body.run.status;
    ids.push(...body.predictions.map((p) => p.id));
    if (!body.nextCursor) return { ids, status };
    cursor = body.nextCursor;
  }
}

/** Images recorded so far over all runs (GET /v1/runs), or -1 when the replica does not answer. */
export async function imagesRecorded(apiUrl: string, apiKey: string): Promise<number> {
  try {
    const res = await fetch(`${apiUrl}/v1/runs?limit=10`, {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(2000),
    });
    const body = (await res.json()) as { runs: { images: number }[] };
    return body.runs.reduce((s, r) => s + r.images, 0);
  } catch {
    return -1;
  }
}
