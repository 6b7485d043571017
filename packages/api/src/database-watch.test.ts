/**
 * Readiness follows the database, liveness does not: a real API on a real PostgreSQL cluster of its
 * own. Freezing every process of the cluster (SIGSTOP) makes pings time out → 503 on both readiness
 * probes with the reason, 200 on both liveness probes; thawing them brings readiness back; stopping
 * the cluster (connections refused) → 503 again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '@refund-vision/shared';
import { startServer, type ServerHandle } from './server.ts';
import { startPostgres, type PostgresCluster } from './testing/postgres.ts';

/** The cluster's postmaster and its children (backends, background workers): all of this test's own processes. */
function clusterPids(cluster: PostgresCluster): number[] {
  const postmaster = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [postmaster, ...children];
}

async function until(what: string, fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('readiness follows the database (database-watch)', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let api: ServerHandle;
  let dir: string;
  let frozen: number[] = [];
  const status = async (path: string) => (await fetch(`${api.url}${path}`)).status;

  before(async () => {
    cluster = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'rv-dbwatch-'));
    const config = loadConfig({
      env: {},
      overrides: {
        api: { port: 0, databaseUrl: await cluster.createDatabase() },
        model: { registry: join(dir, 'models'), registryPollMs: 0 },
        logs: { dir: join(dir, 'logs'), console: false },
      },
    });
    api = await startServer({ config, databaseWatch: { intervalMs: 50, timeoutMs: 300 } });
  });
  after(async () => {
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    await api?.close();
    cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ready while PostgreSQL answers', async () => {
    expect(await status('/readyz')).to.equal(200);
    expect(await status('/v2/health/ready')).to.equal(200);
  });

  it('not ready while PostgreSQL does not answer (pings time out); live all along; ready again once it answers', async () => {
    frozen = clusterPids(cluster);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    await until('readiness fails', async () => (await status('/v2/health/ready')) === 503);
    const body = (await (await fetch(`${api.url}/readyz`)).json()) as { status: string; reason: string };
    expect(body.status).to.equal('database unreachable');
    expect(body.reason).to.match(/no answer within 300 ms/);
    expect(await status('/healthz')).to.equal(200);
    expect(await status('/v2/health/live')).to.equal(200);

    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    frozen = [];
    await until('readiness returns', async () => (await status('/readyz')) === 200 && (await status('/v2/health/ready')) === 200);
  });

  it('not ready when PostgreSQL is gone (connections refused); still live', async () => {
    cluster.stop();
    await until('readiness fails', async () => (await status('/readyz')) === 503 && (await status('/v2/health/ready')) === 503);
    expect(await status('/healthz')).to.equal(200);
    expect(await status('/v2/health/live')).to.equal(200);
  });
});
