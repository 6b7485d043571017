/**
 * A throwaway PostgreSQL cluster for tests (`@refund-vision/api/testing/postgres`; api tests and
 * the top-level e2e/ tests both use it): initdb into a temp dir, pg_ctl on a free loopback port,
 * one fresh database per caller, removed when the process exits. The binaries come from Debian's
 * `postgresql` package (/usr/lib/postgresql/<version>/bin) or PG_BIN. When the cluster cannot
 * start, the promise rejects with the reason: a test that needs Postgres fails, it never skips.
 * A cluster whose test process was killed before its exit handler ran is stopped by the next start.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, processAlive } from '@refund-vision/shared';

export interface PostgresCluster {
  port: number;
  dir: string;
  /** `postgres://postgres@127.0.0.1:PORT/NAME`. */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): void;
}

const HINT = 'install the Debian package postgresql (bash .ci/run does it when run as root), or set PG_BIN to its bin folder';

function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error(`PostgreSQL cannot start: no initdb under ${root}/*/bin; ${HINT}`);
  return join(root, versions[0]!, 'bin');
}

/** initdb refuses to run as root: as root, the cluster belongs to the `postgres` user. */
function runAs(): { prefix: string[]; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { prefix: [] };
  let ids: string[];
  try {
    ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim().split(/\s+/);
    ids.push(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error(`PostgreSQL cannot start: running as root and there is no 'postgres' user to run it as; ${HINT}`);
  }
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid: Number(ids[0]), gid: Number(ids[1]) };
}

function run(cmd: string[], what: string, log?: string): void {
  try {
    execFileSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
    const detail = [err.stderr?.toString(), err.stdout?.toString(), log && existsSync(log) ? readFileSync(log, 'utf8') : '']
      .filter(Boolean)
      .join('\n')
      .trim()
      .split('\n')
      .slice(-8)
      .join('\n');
    throw new Error(`PostgreSQL cannot start: ${what} failed: ${detail || err.message}`);
  }
}

const DIR_PREFIX = 'rv-pg-';
const OWNER_FILE = 'owner.pid';

/**
 * Stops the clusters of test processes that died without their exit handler running (killed by a
 * timeout or a signal): pg_ctl daemonises the server, so nothing else would ever stop it.
 */
function reapOrphans(bin: string, prefix: string[]): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours to judge: no owner recorded
    }
    if (!Number.isInteger(owner) || owner <= 0 || processAlive(owner)) continue;
    try {
      execFileSync(
        prefix[0] ?? join(bin, 'pg_ctl'),
        [...prefix.slice(1), ...(prefix.length ? [join(bin, 'pg_ctl')] : []), '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'],
        {
          stdio: 'ignore',
          timeout: 30_000,
        },
      );
    } catch {
      // not running any more
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = binDir();
  const as = runAs();
  reapOrphans(bin, as.prefix);
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid!);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  let started = false;
  const stop = () => {
    if (started) {
      started = false;
      try {
        execFileSync(...splitCmd([...as.prefix, join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop']), {
          stdio: 'ignore',
          timeout: 30_000,
        });
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run(
      [...as.prefix, join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      'initdb',
    );
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      // fsync off: a test cluster never needs to survive a power cut, and it makes every commit cheap.
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
      try {
        run([...as.prefix, join(bin, 'pg_ctl'), '-D', data, '-o', opts, '-l', log, '-w', '-t', '30', 'start'], 'pg_ctl start', log);
      } catch (e) {
        lastError = e;
        continue;
      }
      started = true;
      process.once('exit', stop);
      let n = 0;
      const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
      return {
        port,
        dir,
        url,
        async createDatabase(name = `rv_${process.pid}_${++n}_${Date.now().toString(36)}`) {
          const client = new pg.Client({ connectionString: url() });
          await client.connect();
          try {
            await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
          } finally {
            await client.end();
          }
          return url(name);
        },
        stop,
      };
    }
    throw lastError;
  } catch (e) {
    stop();
    throw e;
  }
}

function splitCmd(cmd: string[]): [string, string[]] {
  return [cmd[0]!, cmd.slice(1)];
}

let shared: Promise<PostgresCluster> | undefined;

/** One cluster per test process, started on first use and stopped when the process exits. */
export function sharedPostgres(): Promise<PostgresCluster> {
  return (shared ??= startPostgres());
}

/** A fresh, empty database in the shared cluster. */
export async function freshPostgresUrl(): Promise<string> {
  return (await sharedPostgres()).createDatabase();
}
