/**
 * The build is what production runs: the API started from dist/app/bin/main.mjs with plain `node`
 * (no tsx anywhere in dist/app) answers both readiness probes, serves the dashboard's and Swagger's
 * files, and classifies real images; the client's batch CLI from the same build (preprocess worker
 * threads included) delivers a folder to it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLASS_NAMES, parseCsv, projectRoot } from '@refund-vision/shared';
import { buildApp, ENTRY_POINTS, type BuildResult } from './build.ts';
import { accuracy, getJson, sampleImages, startApi, uploadImages, type Started } from './smoke.ts';

describe('pnpm build (dist/app)', function () {
  this.timeout(180_000);
  const root = projectRoot();
  let build: BuildResult;
  let api: Started;
  let tmp: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FASHION_MNIST_DIR: process.env.FASHION_MNIST_DIR,
    HOST: '127.0.0.1',
    PORT: '0',
    DB_PATH: join(tmp, 'db', 'refund-vision.db'),
    LOG_DIR: join(tmp, 'logs'),
    LOG_CONSOLE: 'true',
    ...extra,
  });

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-build-'));
    build = await buildApp({ log: () => {} });
    api = await startApi(process.execPath, [join(build.dir, 'bin', 'main.mjs')], { env: env(), cwd: tmp });
  });
  after(async () => {
    if (api) expect(await api.stop()).to.equal(0, `the API drains and exits 0 on SIGTERM:\n${api.output().slice(-2000)}`);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('emits one bundle per entry point, with no TypeScript loader in it or beside it', () => {
    for (const name of Object.keys(ENTRY_POINTS)) expect(existsSync(join(build.dir, 'bin', `${name}.mjs`)), name).to.equal(true);
    for (const f of readdirSync(join(build.dir, 'bin')).filter((f) => f.endsWith('.mjs'))) {
      const js = readFileSync(join(build.dir, 'bin', f), 'utf8');
      expect(js, f).not.to.match(/from ["']tsx|import\(["']tsx|\.ts["']\)/);
    }
    expect(existsSync(join(build.dir, 'node_modules', 'tsx')), 'tsx is not shipped').to.equal(false);
    // The native addons the API needs are installed (and built) in the flat node_modules.
    for (const m of ['better-sqlite3', 'sharp', 'onnxruntime-node']) {
      const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(m)})`], { cwd: build.dir, encoding: 'utf8' });
      expect(r.status, `${m}: ${r.stderr}`).to.equal(0);
    }
  });

  it('starts from the build: /readyz and /v2/health/ready answer 200 with the model on ONNX Runtime', async () => {
    const ready = await getJson(`${api.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(ready.body.model.engine).to.equal('onnx');
    expect((await getJson(`${api.url}/v2/health/ready`)).status).to.equal(200);
    expect((await getJson(`${api.url}/v2/health/live`)).status).to.equal(200);
    // The model baked into the build, not the repository's copy.
    expect(api.output()).to.include(join(build.dir, 'models', 'fashion-cnn'));
  });

  it('finds its static files: dashboard page, Chart.js, Swagger UI', async () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/dashboard/app.js', 'javascript'],
      ['/dashboard/vendor/chart.umd.min.js', 'javascript'],
      ['/docs/assets/swagger-ui-bundle.js', 'javascript'],
    ] as const) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type'), path).to.include(type);
      expect((await res.arrayBuffer()).byteLength, path).to.be.greaterThan(100);
    }
  });

  it('classifies uploaded real images', async () => {
    const dir = join(tmp, 'upload');
    const files = await sampleImages(dir, 20);
    const { files: answers } = await uploadImages(api.url, dir, files);
    expect(answers).to.have.length(20);
    expect(answers.every((a) => a.ok)).to.equal(true);
    // The committed model is ~93 % right on the test set; 20 images, at least 16 right.
    expect(accuracy(files, answers)).to.be.at.least(0.8);
  });

  it("runs the client's batch CLI from the build (preprocess worker threads) against the built API", () => {
    const inbox = join(tmp, 'inbox');
    return sampleImages(join(inbox, 'g1'), 30).then((files) => {
      const dirs = { RESULTS_DIR: join(tmp, 'results'), OUTBOX_DIR: join(tmp, 'outbox'), CLIENT_STATE_DIR: join(tmp, 'client') };
      const out = execFileSync(process.execPath, [join(build.dir, 'bin', 'batch.mjs'), inbox], {
        env: env({ API_URL: api.url, INBOX_DIR: inbox, CLIENT_WORKERS: '2', ...dirs }),
        cwd: tmp,
        encoding: 'utf8',
        timeout: 120_000,
      });
      const csvs = readdirSync(dirs.RESULTS_DIR).filter((f) => f.endsWith('.csv'));
      expect(csvs, out).to.have.length(1);
      const [header, ...rows] = parseCsv(readFileSync(join(dirs.RESULTS_DIR, csvs[0]!), 'utf8'));
      const col = (name: string) => header!.indexOf(name);
      expect(rows).to.have.length(30);
      expect(
        rows.map((r) => r[col('status')]),
        out,
      ).to.deep.equal(Array(30).fill('classified'));
      const truth = new Map(files.map((f) => [`g1/${f.file}`, CLASS_NAMES[f.label]]));
      const right = rows.filter((r) => truth.get(r[col('file')]!) === r[col('class')]);
      expect(right.length).to.be.at.least(24);
      expect(
        readdirSync(dirs.OUTBOX_DIR).filter((f) => !f.startsWith('.')),
        'nothing left in the outbox',
      ).to.deep.equal([]);
    });
  });

  it('runs as a node:cluster primary with workers from the build (API_WORKERS=2)', async () => {
    const clustered = await startApi(process.execPath, [join(build.dir, 'bin', 'main.mjs')], {
      env: env({ API_WORKERS: '2', DB_PATH: join(tmp, 'cluster', 'refund-vision.db'), LOG_DIR: join(tmp, 'cluster-logs') }),
      cwd: tmp,
    });
    try {
      for (let i = 0; i < 4; i++) expect((await getJson(`${clustered.url}/readyz`)).status).to.equal(200);
    } finally {
      expect(await clustered.stop(), clustered.output().slice(-2000)).to.equal(0);
    }
  });

  it('keeps the production install when nothing changed (a second build only re-bundles)', async () => {
    const again = await buildApp({ root, log: () => {} });
    expect(again.installed).to.equal(false);
  });
});
