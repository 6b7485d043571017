import { expect } from 'chai';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLASS_NAMES, parseCsv, RunSummary } from '@refund-vision/shared';
import { runCli, startTestServer, testBatch, type CliRun, type TestServer } from '../test-support.ts';
import { recordRun } from '../dashboard/seed.ts';
import { RUN_CSV_HEADER } from '../history/csv.ts';

const CLI = fileURLToPath(new URL('./metrics.ts', import.meta.url));

/** What the table should show for a fraction, spelled by ICU rather than by the CLI's own formatter. */
const percent = (x: number | null) =>
  new Intl.NumberFormat('en-US', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x!);

/** `pnpm metrics …` as a user runs it: a separate process reading the SQLite file. */
const metrics = (...args: string[]): Promise<CliRun> => runCli(CLI, args);

describe('pnpm metrics (CLI on a SQLite file filled through the real API)', function () {
  let srv: TestServer;
  let db: string;
  let labelled: RunSummary;
  let inverted: RunSummary;

  before(async () => {
    srv = await startTestServer();
    db = srv.config.api.dbPath;
    const a = await testBatch(150, 3000);
    const seeded = await recordRun(srv.url, { runKey: 'cli-labelled', pixels: a.pixels, labels: a.labels, processMs: 600 });
    // feedback on two predictions: one confirmed, one corrected to another class
    for (const [i, body] of [
      [0, { correct: true }],
      [1, { correctClass: (seeded.classes[1]! + 1) % 10 }],
    ] as const) {
      const res = await fetch(`${srv.url}/v1/predictions/${seeded.predictionIds[i]}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).to.equal(200);
    }
    const b = await testBatch(120, 4000);
    await recordRun(srv.url, { runKey: 'cli-inverted', pixels: b.pixels.map((v) => 255 - v) });
    const c = await testBatch(30, 5000);
    await recordRun(srv.url, { runKey: 'cli-last-week', pixels: c.pixels });
    await srv.store.runs.backdate('cli-last-week', new Date(Date.now() - 6 * 86_400_000));
    labelled = (await srv.store.runs.getRun('cli-labelled'))!;
    inverted = (await srv.store.runs.getRun('cli-inverted'))!;
  });
  after(async () => srv?.stop());

  it('prints a readable table per run: date, images, confidence, accuracy, time/prediction, health', async () => {
    const r = await metrics('--db', db);
    expect(r.code, r.err).to.equal(0);
    const lines = r.out.split('\n');
    const header = lines.find((l) => l.startsWith('Started'))!;
    for (const col of ['Images', 'Mean conf.', 'Accuracy (labels)', 'Accuracy (feedback)', 'ms/pred', 'Health'])
      expect(header).to.include(col);
    const row = (key: string) => lines.find((l) => l.includes(` ${key} `))!;
    const l = row('cli-labelled');
    expect(l).to.include(labelled.startedAt.slice(0, 10));
    expect(l).to.include(' 150 ');
    expect(l)
      .to.include(` ${percent(labelled.meanConfidence)} `)
      .and.match(/ \d{1,3}\.\d% /);
    expect(l).to.include(` ${percent(labelled.accuracy)} of 150 `);
    expect(labelled.feedbackAccuracy).to.equal(0.5); // one of the two feedbacks confirmed
    expect(l).to.include(' 50.0% ');
    expect(l).to.include('4.00'); // 600 ms client time / 150 images
    expect(l.trimEnd().endsWith(labelled.health!)).to.equal(true);
    expect(row('cli-inverted').trimEnd().endsWith('ALERT')).to.equal(true);
    expect(row('cli-inverted')).to.match(/ — +/); // no labels: accuracy unknown, not made up
    expect(row('cli-last-week')).to.be.a('string');
    expect(r.out).to.match(/3 runs \(0 open\), 300 images/);
    expect(r.out, r.out).to.match(/health: 1 ALERT/);
  });

  it('--since limits the period; --format json and csv carry the same runs', async () => {
    const [recent, json, csv] = await Promise.all([
      metrics('--db', db, '--since', '2d'),
      metrics('--db', db, '--format', 'json', '--since', '30d'),
      metrics('--db', db, '--format', 'csv'),
    ]);
    expect(recent.out).to.include('cli-labelled').and.not.include('cli-last-week');

    expect(json.code, json.err).to.equal(0);
    const parsed = JSON.parse(json.out);
    const runs = parsed.runs.map((x: unknown) => RunSummary.parse(x));
    expect(runs.map((x: RunSummary) => x.runKey)).to.deep.equal(['cli-last-week', 'cli-labelled', 'cli-inverted']);
    expect(runs[1]).to.deep.equal(labelled);
    expect(parsed.summary.images).to.equal(300);

    const rows = parseCsv(csv.out);
    expect(rows[0]).to.deep.equal(RUN_CSV_HEADER);
    expect(rows.slice(1).map((x) => x[1])).to.deep.equal(['cli-last-week', 'cli-labelled', 'cli-inverted']);
    expect(Number(rows[2]![RUN_CSV_HEADER.indexOf('accuracy_labels')])).to.be.closeTo(labelled.accuracy!, 1e-6);
  });

  it('--run shows one run per class with its health checks', async () => {
    const [r, byId] = await Promise.all([
      metrics('--db', db, '--run', 'cli-inverted'),
      metrics('--db', db, '--run', String(labelled.id), '--format', 'csv'),
    ]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include('Run cli-inverted').and.include('120 images');
    expect(r.out).to.match(/ALERT +input-mean: mean pixel 0\.\d+ .* per-image SDs above/);
    const classRows = r.out.split('\n').filter((l) => CLASS_NAMES.some((c) => l.startsWith(`${c} `)));
    expect(classRows).to.have.length(10);
    const counts = classRows.map((l) => Number(l.trim().split(/\s{2,}/)[1]));
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(120);
    expect(counts).to.deep.equal(inverted.perClass.map((c) => c.count));
    expect(r.out).to.include('Test-set conf.'); // the committed model card is the run's model

    const rows = parseCsv(byId.out);
    expect(rows[0]).to.deep.equal(['run_key', 'class_index', 'class_name', 'count', 'share', 'mean_confidence']);
    expect(rows.slice(1).map((x) => Number(x[3]))).to.deep.equal(labelled.perClass.map((c) => c.count));
  });

  it('fails clearly: missing database, unknown run, bad options', async () => {
    const [missing, unknown, format, since, flag] = await Promise.all([
      metrics('--db', join(srv.dir, 'nope.db')),
      metrics('--db', db, '--run', 'no-such-run'),
      metrics('--db', db, '--format', 'xml'),
      metrics('--db', db, '--since', 'last tuesday'),
      metrics('--db', db, '--verbose'),
    ]);
    expect(missing.code).to.equal(2);
    expect(missing.err).to.match(/no metrics database at .*nope\.db/);
    expect(unknown.code).to.equal(1);
    expect(unknown.err).to.match(/no run 'no-such-run'/);
    expect(format.code).to.equal(1);
    expect(format.err).to.match(/--format: expected table, csv or json/);
    expect(since.code).to.equal(1);
    expect(since.err).to.match(/since/);
    expect(flag.code).to.equal(1);
    expect(flag.err).to.match(/usage: pnpm metrics/);
  });
});
