/**
 * The real client against the real API (in-process, ephemeral port, the committed model), with
 * real images in temp folders and short retry delays.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, createLogger, parseCsv, type Config } from '@refund-vision/shared';
import { CSV_COLUMNS, runBatch, Scheduler } from '@refund-vision/client';
import { startApi, storedPredictions, type TestApi } from './support/api.ts';
import { clientConfig, eventsText, flakyProxy, tempDir } from './support/client.ts';
import { hugeJpegHeader, writeImages } from './support/images.ts';

function readCsv(path: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(readFileSync(path, 'utf8'));
  expect(head).to.deep.equal([...CSV_COLUMNS]);
  return rows.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i] ?? ''])));
}

describe('client run against the real API', function () {
  this.timeout(120_000);
  let api: TestApi;
  let t: ReturnType<typeof tempDir>;
  before(async () => {
    api = await startApi();
  });
  after(async () => api?.stop());
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  const config = (client: Partial<Config['client']> = {}): Config =>
    clientConfig(t.dir, {
      client: { apiUrl: api.url, retries: 2, retryBaseDelayMs: 10, retryMaxDelayMs: 50, batchSize: 4, workers: 2, ...client },
    });
  const logger = (cfg: Config) => createLogger('client', { dir: cfg.logs.dir, console: false });

  it('classifies both image kinds with labels and a manifest, then a re-run finds nothing new', async () => {
    const cfg = config();
    const inbox = cfg.client.inbox;
    const truth = await writeImages(inbox, [
      ...[0, 1, 2, 3, 4, 5].map((i) => ({ name: `G1/item-${i}.png`, index: i, kind: 'dataset' as const })),
      ...[6, 7, 8, 9].map((i) => ({ name: `G2/photo-${i}.jpg`, index: i, kind: 'photo' as const })),
      { name: 'loose.png', index: 10, kind: 'dataset' },
    ]);
    writeFileSync(
      join(inbox, 'labels.csv'),
      'file,label\n' + [0, 1, 2, 3, 4, 5].map((i) => `G1/item-${i}.png,${CLASS_NAMES[truth.get(`G1/item-${i}.png`)!]}`).join('\n'),
    );
    // photo-9's order said something else: the item returned is not what was ordered
    const wrong = (truth.get('G2/photo-9.jpg')! + 5) % 10;
    writeFileSync(
      join(inbox, 'G2', 'manifest.csv'),
      'file,order id,expected class\n' +
        [6, 7, 8].map((i) => `photo-${i}.jpg,ORD-${i},${CLASS_NAMES[truth.get(`G2/photo-${i}.jpg`)!]}`).join('\n') +
        `\nphoto-9.jpg,ORD-9,${CLASS_NAMES[wrong]}\n`,
    );

    const report = await runBatch({ config: cfg, logger: logger(cfg) });
    expect(report).to.include({ classified: 11, failed: 0, queued: 0, delivered: true, completed: true });

    const stored = await storedPredictions(api, report.runKey);
    expect(stored.map((p) => p.id).sort()).to.deep.equal([...truth.keys()].sort());
    const right = stored.filter((p) => p.classIndex === truth.get(p.id)).length;
    expect(right, 'correct of 11').to.be.at.least(8);
    const run = (await api.store.runs.getRunByKey(report.runKey))!;
    expect(run.status).to.equal('completed');
    expect(run.labelled).to.equal(10); // 6 from labels.csv, 4 from the manifest's expected class
    expect(run.accuracy).to.be.a('number');

    const rows = readCsv(report.resultsPath);
    expect(rows).to.have.length(11);
    expect(new Set(rows.map((r) => r.kind))).to.deep.equal(new Set(['dataset', 'photo']));
    const photo9 = rows.find((r) => r.file === 'G2/photo-9.jpg')!;
    expect(photo9).to.include({ order_id: 'ORD-9', expected_class: CLASS_NAMES[wrong] });
    // The review column is the API's reason, stored with the prediction: a class that contradicts
    // the order is a mismatch; an agreeing answer is never one.
    const storedReview = new Map(stored.map((p) => [p.id, p.review ?? '']));
    for (const r of rows) {
      expect(r.review, r.file).to.equal(storedReview.get(r.file!));
      if (r.expected_class) expect(r.review === 'mismatch', r.file).to.equal(r.class !== r.expected_class);
    }
    expect(photo9.class).to.not.equal(CLASS_NAMES[wrong]);
    expect(photo9.review).to.equal('mismatch');
    expect(report.reviews.mismatch.some((d) => d.startsWith('G2/photo-9.jpg (order ORD-9)'))).to.equal(true);
    expect(run.reviews!.mismatch).to.equal(report.reviews.mismatch.length);
    expect(rows.every((r) => r.status === 'classified' && (r.top3 ?? '').split('; ').length === 3)).to.equal(true);

    // Re-run: nothing new, even after a rename and a move
    renameSync(join(inbox, 'loose.png'), join(inbox, 'renamed loose.png'));
    renameSync(join(inbox, 'G1', 'item-0.png'), join(inbox, 'G2', 'moved-0.png'));
    const again = await runBatch({ config: cfg, logger: logger(cfg) });
    expect(again).to.include({ classified: 0, known: 11, delivered: true });
    expect(await api.store.runs.getRunByKey(again.runKey)).to.equal(undefined);
    // --reprocess forces
    const forced = await runBatch({ config: cfg, reprocess: true, logger: logger(cfg) });
    expect(forced.classified).to.equal(11);
    expect(await storedPredictions(api, forced.runKey)).to.have.length(11);

    const log = await eventsText(cfg.logs.dir);
    expect(log).to.match(
      new RegExp(`INFO  client run=${report.runKey} run finished: .*11 classified.*to review: \\d+ mismatch.*mismatch="G2/photo-9.jpg`),
    );
  });

  it('reports every kind of bad file in the events log and the CSV, and classifies the rest', async () => {
    const cfg = config();
    const inbox = cfg.client.inbox;
    const odd = [`spaces and 'quotes' "double".png`, 'ünïcödé-日本.png', '<script>alert(1)<script>.png', '=SUM(A1).png'];
    await writeImages(
      inbox,
      odd.map((name, i) => ({ name: `bad/${name}`, index: 20 + i, kind: 'dataset' as const })),
    );
    const good = readFileSync(join(inbox, 'bad', odd[0]!));
    writeFileSync(join(inbox, 'bad', 'zero.png'), '');
    writeFileSync(join(inbox, 'bad', 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
    writeFileSync(join(inbox, 'bad', 'huge.jpg'), await hugeJpegHeader());
    writeFileSync(join(inbox, 'bad', 'notes.png'), 'this is a text file with an image name');
    symlinkSync(join(t.dir, 'gone.png'), join(inbox, 'bad', 'dangling.png')); // unreadable: root ignores chmod 000
    symlinkSync('..', join(inbox, 'bad', 'loop'));
    execFileSync('mkfifo', [join(inbox, 'bad', 'pipe.png')]);
    mkdirSync(join(inbox, 'docs'));
    writeFileSync(join(inbox, 'docs', 'readme.txt'), 'hello');
    writeFileSync(join(inbox, 'docs', 'data.bin'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const missing = join(t.dir, 'no-such-folder');

    const report = await runBatch({ config: cfg, folders: [inbox, missing], logger: logger(cfg) });
    expect(report.classified).to.equal(4);
    expect(report.delivered).to.equal(true);
    const rows = readCsv(report.resultsPath);
    const reason = (file: string) => rows.find((r) => r.file === `inbox/${file}` || r.file === file)?.detail?.split(':')[0];
    expect(reason('bad/zero.png')).to.equal('empty');
    expect(reason('bad/truncated.png')).to.equal('corrupt');
    expect(reason('bad/huge.jpg')).to.equal('too-large');
    expect(reason('bad/notes.png')).to.equal('not-image');
    expect(reason('bad/dangling.png')).to.equal('unreadable');
    expect(reason('bad/pipe.png')).to.equal('unreadable');
    expect(reason('bad/loop')).to.equal('symlink-loop');
    expect(reason('docs/readme.txt')).to.equal('not-image');
    expect(reason('docs/data.bin')).to.equal('not-image');
    expect(reason(missing)).to.equal('missing-folder');
    for (const name of odd) expect(rows.find((r) => r.file === `inbox/bad/${name}`)?.status, name).to.equal('classified');
    expect((await storedPredictions(api, report.runKey)).map((p) => p.id).sort()).to.deep.equal(odd.map((n) => `inbox/bad/${n}`).sort());

    const log = await eventsText(cfg.logs.dir);
    for (const r of ['empty', 'corrupt', 'too-large', 'not-image', 'unreadable'])
      expect(log, r).to.match(new RegExp(`WARN  client run=\\S+ skipped ${r} file file=`));
    expect(log).to.match(/symlink loop skipped file=inbox\/bad\/loop/);
    expect(log).to.match(/ERROR client run=\S+ folder not found file=/);
    expect((await api.store.runs.getRunByKey(report.runKey))!.failures).to.equal(rows.filter((r) => r.status === 'failed').length);
  });

  it('keeps batches in the outbox while the API is down and delivers them first on the next run', async () => {
    const proxy = await flakyProxy(api.url, { failures: 1_000 });
    try {
      const cfg = config({ apiUrl: proxy.url, batchSize: 2 });
      await writeImages(
        cfg.client.inbox,
        [0, 1, 2, 3, 4].map((i) => ({ name: `day1/${i}.png`, index: 30 + i, kind: 'dataset' as const })),
      );
      const down = await runBatch({ config: cfg, logger: logger(cfg) });
      expect(down).to.include({ classified: 0, queued: 5, delivered: false, completed: false, outboxRemaining: 3 });
      expect(readdirSync(cfg.client.outbox).filter((n) => n.endsWith('.json'))).to.have.length(3);
      // only the first batch tried the API (1 + 2 retries); the rest went straight to the outbox
      expect(proxy.seen.filter((r) => r.url === '/v1/predict')).to.have.length(3);
      expect(readCsv(down.resultsPath).every((r) => r.status === 'queued')).to.equal(true);
      expect(await api.store.runs.getRunByKey(down.runKey)).to.equal(undefined);

      // Next day the API is back and a new image has arrived
      proxy.setFailures(0);
      await writeImages(cfg.client.inbox, [{ name: 'day2/new.png', index: 40, kind: 'dataset' }]);
      const next = await runBatch({ config: cfg, logger: logger(cfg) });
      expect(next).to.include({ outboxDelivered: 3, classified: 1, delivered: true, outboxRemaining: 0 });
      const first = await storedPredictions(api, down.runKey);
      expect(first.map((p) => p.id).sort()).to.deep.equal(['day1/0.png', 'day1/1.png', 'day1/2.png', 'day1/3.png', 'day1/4.png']);
      expect((await api.store.runs.getRunByKey(down.runKey))!.status).to.equal('completed');
      expect(readCsv(down.resultsPath).every((r) => r.status === 'classified')).to.equal(true);
      expect(readdirSync(cfg.client.outbox).filter((n) => n.endsWith('.json'))).to.deep.equal([]);
      const log = await eventsText(cfg.logs.dir);
      expect(log).to.match(/ERROR client run=\S+ API unreachable after 3 attempts/);
      expect(log).to.match(/batch sent to the outbox \(API unreachable\)/);
      expect(log).to.match(/sending the outbox first batches=3/);
    } finally {
      await proxy.close();
    }
  });

  it('rides out an API that fails a few times then recovers within the retries', async () => {
    const proxy = await flakyProxy(api.url, { failures: 2, path: /^\/v1\/predict/ });
    try {
      const cfg = config({ apiUrl: proxy.url, retries: 3 });
      await writeImages(
        cfg.client.inbox,
        [0, 1, 2, 3, 4, 5].map((i) => ({ name: `${i}.png`, index: 50 + i, kind: 'dataset' as const })),
      );
      const report = await runBatch({ config: cfg, logger: logger(cfg) });
      expect(report).to.include({ classified: 6, queued: 0, delivered: true, completed: true });
      const posts = proxy.seen.filter((r) => r.url === '/v1/predict');
      expect(posts).to.have.length(4); // 2 batches + 2 failed attempts of the first
      expect(posts[0]!.headers['idempotency-key']).to.equal(posts[2]!.headers['idempotency-key']);
      expect(await storedPredictions(api, report.runKey)).to.have.length(6);
      const log = await eventsText(cfg.logs.dir);
      expect(log.match(/WARN  client run=\S+ retrying POST \/v1\/predict after HTTP 503 batch=0/g)).to.have.length(2);
    } finally {
      await proxy.close();
    }
  });

  it('runs on a real cron schedule (every second) after waiting for /readyz', async () => {
    const cfg = config({ cron: '* * * * * *', timezone: 'UTC' });
    await writeImages(
      cfg.client.inbox,
      [0, 1, 2].map((i) => ({ name: `s/${i}.png`, index: 60 + i, kind: 'dataset' as const })),
    );
    const s = new Scheduler({ config: cfg, logger: logger(cfg) });
    await s.start();
    try {
      const deadline = Date.now() + 30_000;
      while (!s.readState()?.lastRunKey && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await s.stop();
    }
    const runKey = s.readState()!.lastRunKey!;
    expect((await storedPredictions(api, runKey)).map((p) => p.id).sort()).to.deep.equal(['s/0.png', 's/1.png', 's/2.png']);
    const log = await eventsText(cfg.logs.dir);
    expect(log).to.match(/INFO  scheduler run=- scheduled run starting reason=schedule/);
  });
});
