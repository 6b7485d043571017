/**
 * The image that `pnpm image` makes serves: its root filesystem, unpacked from the OCI layout by umoci
 * and started as its config says (user 10001, /app, `node bin/main.mjs`) under chroot with the root
 * read-only, answers /readyz 200 and classifies real images. The first build takes minutes (Debian
 * base, Node from npm); later runs reuse it while the build's files are unchanged.
 *
 * Skipped with the reason where images cannot be built (not root, no apt-get for the tools) — but
 * never under CI=true, where that is a failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { APP_UID, buildImage, IMAGE_CONFIG, imageRef, imageToolsProblem, rootfsCommand, unpackImage, type ImageResult } from './image.ts';
import { openStore } from '@refund-vision/api';
import { startPostgres } from '@refund-vision/api/testing/postgres';
import { accuracy, childPid, getJson, sampleImages, startApi, uploadImages, type Started } from './smoke.ts';

describe('pnpm image (OCI image without a daemon)', function () {
  // A cold build: mmdebstrap downloads ~40 MB of Debian packages, npm ~43 MB of Node, umoci packs ~450 MB.
  this.timeout(15 * 60_000);
  let img: ImageResult;
  let bundle: string;
  let api: Started;
  let tmp: string;
  const apiKey = `image-test-${process.pid}-key-0123456789`;

  before(async function () {
    const problem = imageToolsProblem((m) => process.stdout.write(`      [image] ${m}\n`));
    if (problem) {
      if (process.env.CI === 'true') throw new Error(`the image cannot be built in CI: ${problem}`);
      process.stdout.write(`      skipped: ${problem}\n`);
      return this.skip();
    }
    tmp = mkdtempSync(join(tmpdir(), 'rv-image-'));
    img = await buildImage({ log: (m) => process.stdout.write(`      [image] ${m}\n`) });
    bundle = unpackImage(img);
    const c = rootfsCommand(bundle, { env: { HOST: '127.0.0.1', PORT: '0', API_KEY: apiKey } });
    api = await startApi(c.cmd, c.args, { env: { PATH: process.env.PATH }, signalChild: true, timeoutMs: 90_000 });
  });
  after(async () => {
    if (api) expect(await api.stop(), `the API in the image drains and exits 0 on SIGTERM:\n${api.output().slice(-2000)}`).to.equal(0);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('is tagged as the manifests expect, runs as a non-root user, exposes the port, names its health check', () => {
    expect(img.ref).to.equal(imageRef());
    const index = JSON.parse(readFileSync(join(img.layout, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name'])).to.deep.equal([img.ref.split(':')[1]]);
    const blob = (digest: string) => JSON.parse(readFileSync(join(img.layout, 'blobs', ...digest.split(':')), 'utf8'));
    const manifest = blob(img.manifestDigest);
    const config = blob(manifest.config.digest).config;
    expect(config.User).to.equal(`${APP_UID}:${APP_UID}`);
    expect(Object.keys(config.ExposedPorts)).to.deep.equal([`${IMAGE_CONFIG.port}/tcp`]);
    expect(config.Labels['org.refund-vision.healthcheck']).to.equal(IMAGE_CONFIG.healthcheck.join(' '));
    expect([...config.Entrypoint, ...config.Cmd]).to.deep.equal([...IMAGE_CONFIG.entrypoint, ...IMAGE_CONFIG.cmd]);
    // Size as reported by `pnpm image`: a real image, not an empty shell (and not absurdly large).
    expect(img.compressedBytes).to.be.within(50 * 2 ** 20, 600 * 2 ** 20);
  });

  it('serves from its root filesystem: /readyz and /v2/health/ready 200, as uid 10001', async () => {
    const ready = await getJson(`${api.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(ready.body.model.engine).to.equal('onnx');
    expect((await getJson(`${api.url}/v2/health/ready`)).status).to.equal(200);
    const pid = childPid(api.child.pid!)!;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2)).to.deep.equal(['/usr/local/bin/node', 'bin/main.mjs']);
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).to.match(new RegExp(`^Uid:\\s+${APP_UID}\\s`, 'm'));
  });

  it('classifies real images (with the API key it requires on an exposed address)', async () => {
    const dir = join(tmp, 'upload');
    const files = await sampleImages(dir, 20);
    const anonymous = await fetch(`${api.url}/v1/predict/image`, { method: 'POST', body: new FormData() });
    expect(anonymous.status).to.equal(401);
    const { files: answers } = await uploadImages(api.url, dir, files, apiKey);
    expect(answers.every((a) => a.ok)).to.equal(true);
    expect(accuracy(files, answers)).to.be.at.least(0.8);
  });

  it('its health check command passes against the running API, and fails when nothing listens', () => {
    const port = new URL(api.url).port;
    const ok = rootfsCommand(bundle, { env: { PORT: port }, args: IMAGE_CONFIG.healthcheck });
    expect(spawnSync(ok.cmd, ok.args, { encoding: 'utf8' }).status).to.equal(0);
    const bad = rootfsCommand(bundle, { env: { PORT: '1' }, args: IMAGE_CONFIG.healthcheck });
    const r = spawnSync(bad.cmd, bad.args, { encoding: 'utf8' });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('unhealthy');
  });

  it('runs the migration entry point (the Kubernetes Job) to completion', () => {
    const c = rootfsCommand(bundle, { args: ['/usr/local/bin/node', 'bin/migrate.mjs'] });
    const out = execFileSync(c.cmd, c.args, { encoding: 'utf8' });
    expect(out).to.match(/migrate: sqlite \/app\/data\/refund-vision\.db is up to date/);
  });

  it('as in Kubernetes: the migration Job, then the API on PostgreSQL (DATABASE_URL); predictions land in PostgreSQL', async () => {
    const cluster = await startPostgres();
    let replica: Started | undefined;
    try {
      const url = await cluster.createDatabase();
      const job = rootfsCommand(bundle, { env: { DATABASE_URL: url }, args: ['/usr/local/bin/node', 'bin/migrate.mjs'] });
      expect(execFileSync(job.cmd, job.args, { encoding: 'utf8' })).to.match(/migrate: postgres .* is up to date/);
      const c = rootfsCommand(bundle, { env: { HOST: '127.0.0.1', PORT: '0', API_KEY: apiKey, DATABASE_URL: url } });
      replica = await startApi(c.cmd, c.args, { env: { PATH: process.env.PATH }, signalChild: true, timeoutMs: 90_000 });
      expect((await getJson(`${replica.url}/v2/health/ready`)).status).to.equal(200);
      const dir = join(tmp, 'upload-pg');
      const files = await sampleImages(dir, 5);
      const { runKey } = await uploadImages(replica.url, dir, files, apiKey);
      // Read back from PostgreSQL itself, not through the API.
      const store = await openStore({ url, readOnly: true });
      try {
        const run = await store.runs.getRun(runKey);
        expect(run, runKey).to.not.equal(undefined);
        expect((await store.runs.runPredictions(run!.id, {})).items).to.have.length(5);
      } finally {
        await store.close();
      }
    } finally {
      if (replica) expect(await replica.stop()).to.equal(0);
      cluster.stop();
    }
  });
});
