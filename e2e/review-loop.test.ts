/**
 * Issue 10's whole loop through the real parts: a tiny champion serves a run of dataset-like images
 * (with their order labels) and real out-of-scope photos → the queue lists what needs a person in the
 * stated order, with thumbnails → two reviewers take items at once (never the same one) and decide →
 * `pnpm train --with-reviews` fine-tunes a candidate on those decisions → `pnpm model gate/promote`
 * (McNemar on Fashion-MNIST test, the photo validation split and the held-back reviews) → every API
 * answer switches to the new version with no failed request under concurrent load → `pnpm model
 * rollback` → the old version answers again.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type ServerHandle } from '@refund-vision/api';
import { runBatch } from '@refund-vision/client';
import { loadClothingPhotos } from '@refund-vision/model';
import { CLASS_NAMES, createLogger, loadConfig, projectRoot, REVIEW_REASON_ORDER, type ModelCard } from '@refund-vision/shared';
import { fashionTest } from './support/api.ts';
import { clientConfig, tempDir } from './support/client.ts';
import { writeImages } from './support/images.ts';

const root = projectRoot();

/** A repo CLI (tsx) as a child process; resolves with its exit code and everything it printed. */
function cli(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, script), ...args], {
      cwd: root,
      env: { ...process.env, LOG_CONSOLE: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const TRAIN = 'packages/model/src/cli/train.ts';
const MODEL = 'packages/model/src/cli/model.ts';
/** Small and fast: the 'fast' architecture, a slice of Fashion-MNIST, a few real photos as stored. */
const tiny = ['--arch', 'fast', '--validation', '200', '--photo-limit', '40', '--photo-variants', '0', '--seed', '7'];

interface QueueItem {
  id: number;
  imageId: string;
  reason: string;
  hasThumbnail: boolean;
  classIndex: number;
  expected: number | null;
}

describe('the review loop: run → queue → two reviewers → train --with-reviews → gate → promote (hot swap) → rollback', function () {
  this.timeout(900_000);
  let t: ReturnType<typeof tempDir>;
  let api: ServerHandle | undefined;
  before(() => (t = tempDir()));
  after(async () => {
    await api?.close();
    t.cleanup();
  });

  it('closes the loop with real parts', async () => {
    const dir = t.dir;
    const champDir = join(dir, 'champion');
    const candDir = join(dir, 'candidate');
    const registry = join(dir, 'registry');

    // 1. A tiny champion, trained as `pnpm train` trains (photos included, calibrated, with a card).
    const a = await cli(TRAIN, [...tiny, '--epochs', '1', '--limit', '1500', '--out', champDir], {});
    expect(a.code, a.out).to.equal(0);
    // The review thresholds the card chose on 40 validation photos are noise for a model this small;
    // a fixed test policy makes the queue's content predictable (the weights, so the version, stay).
    const cardPath = join(champDir, 'model-card.json');
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
    card.review = {
      outOfScope: { score: 'entropy', threshold: 0.55 },
      lowConfidence: { score: 'maxProb', threshold: 0.6 },
      target: 'test policy',
    };
    writeFileSync(cardPath, JSON.stringify(card));

    const config = loadConfig({
      env: {},
      overrides: {
        root: dir,
        api: { port: 0, dbPath: join(dir, 'rv.db') },
        model: { dir: champDir, registry, registryPollMs: 100 },
        logs: { dir: join(dir, 'logs'), console: false, level: 'warn' },
      },
    });
    api = await startServer({ config, logger: createLogger('api', { dir: config.logs.dir, console: false, level: 'warn' }) });
    const champion = api.classifier.version;
    const env = { API_URL: api.url, MODEL_REGISTRY: registry, MODEL_DIR: champDir, RV_USER: 'e2e' };

    // 2. A run: 40 dataset-like items with their order labels, and 6 real photos of things no class fits.
    const inbox = join(dir, 'inbox');
    const truth = await writeImages(
      inbox,
      Array.from({ length: 40 }, (_, i) => ({ name: `G/item-${i}.png`, index: 500 + i, kind: 'dataset' as const })),
    );
    writeFileSync(
      join(inbox, 'G', 'labels.csv'),
      `file,label\n${[...truth].map(([f, c]) => `${f.slice(2)},${CLASS_NAMES[c]}`).join('\n')}\n`,
    );
    const oos = (await loadClothingPhotos()).photos.filter((p) => ['Shorts', 'Hat', 'Skirt'].includes(p.label)).slice(0, 6);
    for (const p of oos) copyFileSync(p.file, join(inbox, 'G', `oos-${p.id}.jpg`));
    const cfg = clientConfig(dir, { client: { apiUrl: api.url, inbox, retries: 1, retryBaseDelayMs: 10, batchSize: 16, workers: 1 } });
    const report = await runBatch({ config: cfg });
    expect(report).to.include({ classified: 46, delivered: true, completed: true });

    // 3. The queue: mismatches, then out-of-scope, then low confidence; thumbnails of the flagged files.
    const queue = (await (await fetch(`${api.url}/v1/reviews?limit=1000`)).json()) as { items: QueueItem[] };
    expect(queue.items.length).to.be.greaterThan(5);
    const ranks = queue.items.map((i) => REVIEW_REASON_ORDER.indexOf(i.reason as never));
    expect(ranks).to.deep.equal([...ranks].sort((x, y) => x - y));
    expect(new Set(queue.items.map((i) => i.reason))).to.include('mismatch');
    expect(
      queue.items.every((i) => i.hasThumbnail),
      'every flagged file sent its thumbnail',
    ).to.equal(true);

    // 4. Two reviewers at once: each claims the next item until none is left; no item goes to both.
    const taken = new Map<string, number[]>([
      ['ana', []],
      ['ben', []],
    ]);
    const decide = async (reviewer: string) => {
      for (;;) {
        const r = (await (
          await fetch(`${api!.url}/v1/reviews/claim`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ reviewer }),
          })
        ).json()) as { item: QueueItem | null };
        if (!r.item) return;
        taken.get(reviewer)!.push(r.item.id);
        const label = truth.get(r.item.imageId);
        const decision = label === undefined ? { decision: 'none' } : { decision: 'class', classIndex: label };
        const d = await fetch(`${api!.url}/v1/reviews/${r.item.id}/decision`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...decision, reviewer, secondsSpent: 2 }),
        });
        expect(d.status, await d.clone().text()).to.equal(200);
      }
    };
    await Promise.all([decide('ana'), decide('ben')]);
    const [byAna, byBen] = [taken.get('ana')!, taken.get('ben')!];
    expect(byAna.filter((id) => byBen.includes(id))).to.deep.equal([]);
    expect(byAna.length + byBen.length).to.equal(queue.items.length);
    const trainingSet = (await (await fetch(`${api.url}/v1/reviews/training-set`)).json()) as { items: { classIndex: number | null }[] };
    expect(trainingSet.items.length).to.equal(queue.items.length);

    // 5. A candidate fine-tuned from the champion on more data and the reviewed items.
    const b = await cli(
      TRAIN,
      [...tiny, '--init', champDir, '--epochs', '2', '--limit', '4000', '--with-reviews', '--review-holdout', '0.5', '--out', candDir],
      env,
    );
    expect(b.code, b.out).to.equal(0);
    expect(b.out).to.match(/reviewed items: \d+ \(\d+ to train, \d+ held back for the gate\)/);
    const candidate = (JSON.parse(readFileSync(join(candDir, 'model-card.json'), 'utf8')) as ModelCard).version;

    // 6. The registry and the gate, with its numbers.
    const added = await cli(MODEL, ['add', candDir], env);
    expect(added.out, added.out).to.contain(`added ${candidate}`);
    const gate = await cli(MODEL, ['gate', candidate, '--limit', '300', '--json'], env);
    const report6 = JSON.parse(gate.out.slice(gate.out.indexOf('{'))) as {
      passed: boolean;
      sets: { name: string; n: number; reportedOnly?: boolean }[];
    };
    const names = (reported: boolean) => report6.sets.filter((s) => !!s.reportedOnly === reported).map((s) => s.name);
    expect(names(false)).to.deep.equal(['fashion-mnist test', 'photo validation', 'held-back reviews']);
    // shown beside the verdict, not judged: what each card's review policy accepts on the photos
    expect(names(true)).to.deep.equal(['photo validation, accepted right', 'photo validation, no wrong accepted']);
    for (const s of report6.sets) expect(s.n, s.name).to.be.greaterThan(0);

    // 7. Promote under concurrent load: no failed request, and every answer after the swap is the candidate's.
    const ds = await fashionTest();
    let stop = false;
    let batch = 0;
    const answers: { status: number; version: string }[] = [];
    const load = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const res = await fetch(`${api!.url}/v1/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            runKey: 'loop-load',
            batchIndex: batch++,
            images: Array.from({ length: 8 }, (_, k) => ({ id: `l${k}.png` })),
            pixels: Buffer.from(ds.images.subarray(0, 8 * 784)).toString('base64'),
          }),
        });
        answers.push({ status: res.status, version: ((await res.json()) as { modelVersion: string }).modelVersion });
      }
    });
    const promote = await cli(MODEL, ['promote', candidate, '--limit', '300', ...(report6.passed ? [] : ['--force'])], env);
    expect(promote.code, promote.out).to.equal(0);
    await api.modelWatcher.check();
    expect(api.classifier.version).to.equal(candidate);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(load);
    expect(answers.filter((x) => x.status !== 200)).to.deep.equal([]);
    expect(answers.at(-1)!.version).to.equal(candidate);
    const history = JSON.parse((await cli(MODEL, ['history', '--json'], env)).out) as { to: string; forced: boolean; by: string }[];
    expect(history.at(-1)).to.include({ to: candidate, forced: !report6.passed, by: 'e2e' });

    // 8. Rollback: the same move back.
    const back = await cli(MODEL, ['rollback'], env);
    expect(back.out).to.contain(`champion rolled back: ${candidate} → ${champion}`);
    await api.modelWatcher.check();
    const after = await fetch(`${api.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        runKey: 'loop-after',
        batchIndex: 0,
        images: [{ id: 'x.png' }],
        pixels: Buffer.from(ds.images.subarray(0, 784)).toString('base64'),
      }),
    });
    expect(((await after.json()) as { modelVersion: string }).modelVersion).to.equal(champion);
    console.log(`      gate: ${report6.passed ? 'passed' : 'failed (promoted with --force)'}; ${JSON.stringify(report6.sets)}`);
  });
});
