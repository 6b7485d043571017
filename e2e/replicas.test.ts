/**
 * The client against several real API replicas sharing one store (#11 "Several replicas"): the real
 * `pnpm batch` CLI with API_URLS spreads batches over the replicas and fails over while one is
 * killed with SIGKILL (and, on PostgreSQL, another's link is cut for a few seconds). Afterwards the
 * store holds every image exactly once (rows counted against files), the run is completed and the
 * outbox is empty.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres, type PostgresCluster } from '@refund-vision/api/testing/postgres';
import { startCli } from './support/cli.ts';
import { tempDir } from './support/client.ts';
import { writeImages } from './support/images.ts';
import { imagesRecorded, recordedIds, startReplicas, type Replicas } from './support/replicas.ts';

const API_KEY = 'replica-test-key-0123456789';

describe('client over several API replicas (child processes)', function () {
  this.timeout(600_000);
  let t: ReturnType<typeof tempDir>;
  let replicas: Replicas | undefined;
  beforeEach(() => (t = tempDir('rv-replicas-')));
  afterEach(async () => {
    await replicas?.stop();
    replicas = undefined;
    t.cleanup();
  });

  /** Writes `count` images and the client's config for the replicas; returns the file names. */
  async function prepare(count: number, urls: string[], batchSize: number): Promise<{ names: string[]; config: string }> {
    const names = Array.from({ length: count }, (_, i) => `g${i % 4}/${i}.png`);
    await writeImages(
      join(t.dir, 'data', 'inbox'),
      names.map((name, i) => ({ name, index: i % 10000, kind: 'dataset' as const })),
    );
    const config = join(t.dir, 'refund-vision.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        api: { apiKey: API_KEY },
        client: {
          apiUrls: urls,
          batchSize,
          workers: 2,
          retries: 4,
          retryBaseDelayMs: 100,
          retryMaxDelayMs: 1000,
          timeoutMs: 2000,
        },
        logs: { dir: join(t.dir, 'client-logs'), console: true, level: 'info' },
      }),
    );
    return { names, config };
  }

  /** Polls replica `watch` until `images` are recorded, then does `what`. */
  async function when(watch: string, images: number, what: () => unknown, done: () => boolean): Promise<number> {
    for (;;) {
      const n = await imagesRecorded(watch, API_KEY);
      if (n >= images) {
        await what();
        return n;
      }
      if (done()) throw new Error(`the run ended before ${images} images were recorded (${n})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function verify(names: string[], out: string, code: number | null, via: string): Promise<string> {
    expect(code, out).to.equal(0);
    const last = out.trim().split('\n').at(-1)!;
    const runKey = /^run (\S+): (\d+) classified/.exec(last)?.[1];
    expect(runKey, last).to.be.a('string');
    expect(last).to.match(new RegExp(`: ${names.length} classified, 0 bad files`));
    const { ids, status } = await recordedIds(via, API_KEY, runKey!);
    expect(ids.length, 'rows recorded').to.equal(names.length);
    expect([...new Set(ids)].sort()).to.deep.equal([...names].sort());
    expect(status).to.equal('completed');
    const outbox = join(t.dir, 'data', 'outbox');
    expect(existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.json')) : []).to.deep.equal([]);
    return runKey!;
  }

  it('SQLite, 3 processes on loopback: one killed mid-run, every image recorded once', async () => {
    replicas = await startReplicas({ count: 3, dir: join(t.dir, 'apis'), apiKey: API_KEY });
    const [a, b, c] = replicas.apis as [Replicas['apis'][0], Replicas['apis'][0], Replicas['apis'][0]];
    const { names, config } = await prepare(400, [a.url, b.url, c.url], 8);
    const cli = startCli('batch', config);
    const killedAt = await when(
      a.url,
      40,
      () => b.proc.kill('SIGKILL'),
      () => cli.proc.exitCode !== null,
    );
    const { code } = await cli.exit;
    expect(killedAt, 'killed mid-run').to.be.below(names.length);
    expect((await b.exited).signal).to.equal('SIGKILL');
    await verify(names, cli.out(), code, a.url);
    expect(cli.out()).to.match(new RegExp(`API replica down, failing over: ${b.url.replace(/\./g, '\\.')}`));
    // all three took batches; the killed one only until it died
    const served = /replicas=(.*)$/m.exec(cli.out())![1]!;
    for (const r of [a, b, c]) expect(served).to.match(new RegExp(`${r.url.replace(/\./g, '\\.')}=[1-9]`));
  });

  describe('on PostgreSQL', () => {
    let pg: PostgresCluster;
    before(async () => (pg = await startPostgres()));
    after(() => pg?.stop());

    it('3 replicas (own network namespaces where permitted), ~2,000 images: one killed, another cut off for 2 s', async () => {
      // The unix socket reaches the cluster from inside any network namespace.
      const url = new URL(await pg.createDatabase());
      const databaseUrl = `postgres://postgres@localhost:${pg.port}${url.pathname}?host=${encodeURIComponent(pg.dir)}`;
      replicas = await startReplicas({ count: 3, dir: join(t.dir, 'apis'), apiKey: API_KEY, databaseUrl, netns: true });
      const [a, b, c] = replicas.apis as [Replicas['apis'][0], Replicas['apis'][0], Replicas['apis'][0]];
      const { names, config } = await prepare(2000, [a.url, b.url, c.url], 16);
      const cli = startCli('batch', config);
      const running = () => cli.proc.exitCode !== null;
      const killedAt = await when(a.url, 300, () => c.proc.kill('SIGKILL'), running);
      let cut: Promise<void> | undefined;
      const cutAt = await when(a.url, 500, () => (cut = b.cut(2000)), running);
      let exitedAt = Infinity;
      void cli.exit.then(() => (exitedAt = Date.now()));
      await cut;
      const restoredAt = Date.now();
      const { code } = await cli.exit;
      expect(killedAt, 'killed mid-run').to.be.below(names.length);
      expect(cutAt, 'cut mid-run').to.be.below(names.length);
      expect((await c.exited).signal).to.equal('SIGKILL');
      await verify(names, cli.out(), code, a.url);
      const out = cli.out();
      expect(out).to.match(new RegExp(`API replica down, failing over: ${c.url.replace(/\./g, '\\.')}`));
      expect(out, `the cut replica (${replicas.mode}) is dropped`).to.match(
        new RegExp(`API replica down, failing over: ${b.url.replace(/\./g, '\\.')}`),
      );
      // Taken back once its link is up — observable only when the run outlived the restore by more
      // than the longest probe interval (retryMaxDelayMs 1 s); on a fast machine the run can end first.
      const back = new RegExp(`API replica back: ${b.url.replace(/\./g, '\\.')}`);
      if (exitedAt - restoredAt > 2000) expect(out, 'and taken back once its link is up').to.match(back);
      else console.log(`      (the run ended ${exitedAt - restoredAt} ms after the link came back: no probe was due yet)`);
      console.log(`      (${replicas.mode}; killed at ${killedAt} images, cut at ${cutAt}) ${/replicas=(.*)$/m.exec(out)?.[1]}`);
    });
  });
});
