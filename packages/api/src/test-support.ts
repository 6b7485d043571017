/**
 * Test fixtures (tests only): one real classifier per mocha process, a real server on an ephemeral
 * port with its SQLite file and logs in a temp dir, Fashion-MNIST test images, and request helpers.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import {
  createLogger,
  encodePixels,
  loadConfig,
  type Logger,
  PIXELS_PER_IMAGE,
  projectRoot,
  type Config,
  type ConfigOverrides,
  type ModelCard,
  freePort,
} from '@refund-vision/shared';
import { buildPng, loadClassifier, loadFashionMnist, tensorCount, type Classifier, type FashionMnist } from '@refund-vision/model';
import { startServer, type ServerHandle } from './server.ts';

let classifier: Promise<Classifier> | undefined;
let testSet: Promise<FashionMnist> | undefined;

export const modelDir = () => join(projectRoot(), 'models', 'fashion-cnn');

/** The committed model, loaded once and shared by every suite (its engine is process-wide anyway). */
export function sharedClassifier(): Promise<Classifier> {
  return (classifier ??= loadClassifier({ dir: modelDir() }));
}

let logger: Logger | undefined;

/**
 * One logger for every test server: a file transport in a folder that is removed under it would
 * crash the process, so the folder lives until the test process exits.
 */
export function testLogger(): Logger {
  if (logger) return logger;
  const dir = join(tmpdir(), `rv-api-test-logs-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (logger = createLogger('api', { dir, console: false, level: 'warn' }));
}

/** tf.memory().numTensors when the classifier runs on tfjs; the ONNX engine holds no tfjs tensors. */
export function liveTensors(classifier: Classifier): number {
  return classifier.engine === 'onnx' ? 0 : tensorCount();
}

export function fashionTest(): Promise<FashionMnist> {
  return (testSet ??= loadFashionMnist('test'));
}

/** `count` test images starting at `start`: pixels (N×784) and labels. */
export async function testBatch(count: number, start = 0): Promise<{ pixels: Uint8Array; labels: number[] }> {
  const ds = await fashionTest();
  return {
    pixels: ds.images.slice(start * PIXELS_PER_IMAGE, (start + count) * PIXELS_PER_IMAGE),
    labels: Array.from(ds.labels.subarray(start, start + count)),
  };
}

export interface TestServer extends ServerHandle {
  dir: string;
  config: Config;
  /** Stops the server and removes its temp dir. */
  stop(): Promise<void>;
}

export function testConfig(dir: string, overrides: ConfigOverrides = {}): Config {
  return loadConfig({
    env: {},
    overrides: {
      ...overrides,
      root: dir,
      api: { port: 0, dbPath: join(dir, 'rv.db'), ...overrides.api },
      model: { dir: modelDir(), ...overrides.model },
      logs: { dir: join(dir, 'logs'), console: false, level: 'warn', ...overrides.logs },
    },
  });
}

/** The shared classifier with parts of its model card replaced (e.g. a `review` policy). */
export function withCard(c: Classifier, patch: Partial<ModelCard>): Classifier {
  return { ...c, card: { ...c.card, ...patch } };
}

export async function startTestServer(overrides: ConfigOverrides = {}, opts: { classifier?: Classifier } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rv-api-'));
  const config = testConfig(dir, overrides);
  const handle = await startServer({ config, classifier: opts.classifier ?? (await sharedClassifier()), logger: testLogger() });
  return {
    ...handle,
    dir,
    config,
    async stop() {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A server for the enclosing mocha suite: started before its tests, stopped after them. */
export function useTestServer(overrides: ConfigOverrides = {}): TestServer {
  const holder = {} as TestServer;
  before(async () => {
    Object.assign(holder, await startTestServer(overrides));
  });
  after(async () => holder.stop?.());
  return holder;
}

export function predictBody(pixels: Uint8Array, opts: { runKey?: string; batchIndex?: number; labels?: number[]; ids?: string[] } = {}) {
  const n = pixels.length / PIXELS_PER_IMAGE;
  return {
    runKey: opts.runKey ?? 'test-run',
    batchIndex: opts.batchIndex ?? 0,
    images: Array.from({ length: n }, (_, i) => ({
      id: opts.ids?.[i] ?? `img-${i}.png`,
      ...(opts.labels ? { label: opts.labels[i] } : {}),
    })),
    pixels: encodePixels(pixels),
  };
}

export interface Sent {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** fetch with a JSON (or raw) body; parses JSON answers. */
export async function send(
  url: string,
  opts: { method?: string; json?: unknown; body?: RequestInit['body'] | Buffer; headers?: Record<string, string>; gzip?: boolean } = {},
): Promise<Sent> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: RequestInit['body'] | undefined = opts.body as RequestInit['body'] | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    const text = JSON.stringify(opts.json);
    body = opts.gzip ? gzipSync(text) : text;
    if (opts.gzip) headers['content-encoding'] = 'gzip';
  }
  const res = await fetch(url, { method: opts.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Seeded PRNG for reproducible generated inputs. */
export { seededRandom as seeded } from '@refund-vision/shared';

export interface RawAnswer {
  /** HTTP status of the first response, undefined when none came before the deadline or close. */
  status?: number;
  /** Everything the server sent. */
  text: string;
  /** Milliseconds until the first response (or until giving up). */
  ms: number;
  /** The server closed the connection (before the deadline). */
  closed: boolean;
}

/**
 * Sends bytes exactly as given over a plain TCP connection (fetch would fix up a malformed request)
 * and waits for the first complete response head, the server closing, or the deadline.
 */
export function rawRequest(port: number, chunks: (string | Buffer)[], deadlineMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const text = got.toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : undefined, text, ms: performance.now() - t0, closed });
      socket.destroy();
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      const head = got.indexOf('\r\n\r\n');
      if (head < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(got.subarray(0, head).toString('latin1'));
      if (!len || got.length - head - 4 >= Number(len[1])) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    for (const c of chunks) socket.write(c);
  });
}

/** A 1,080-byte BMP declaring width×height, RLE8, whose only pixel data is an end-of-bitmap marker. */
export function rle8Bomb(width = 10_000, height = 10_000): Buffer {
  const b = Buffer.alloc(14 + 40 + 1024 + 2);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(14 + 40 + 1024, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(8, 28);
  b.writeUInt32LE(1, 30); // BI_RLE8
  b.writeUInt32LE(2, 34);
  b.writeUInt32LE(256, 46);
  b.writeUInt16LE(0x0100, 14 + 40 + 1024); // 00 01: end of bitmap
  return b;
}

/** A valid gray PNG of side×side, all one value (compresses ~1000:1), or a diagonal gradient. */
export function flatPng(side: number, value = 0, gradient = false): Buffer {
  const raw = Buffer.alloc((side + 1) * side, value);
  for (let y = 0; y < side; y++) {
    raw[y * (side + 1)] = 0;
    if (gradient) for (let x = 0; x < side; x++) raw[y * (side + 1) + 1 + x] = (x + y) & 255;
  }
  return buildPng({ width: side, height: side, depth: 8, colorType: 0 }, deflateSync(raw, { level: 9 }));
}

export interface ApiProcess {
  url: string;
  child: import('node:child_process').ChildProcess;
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string;
}

/**
 * The API as its own process (`main.ts`, as `pnpm api` runs it) on a free loopback port, waited for
 * until /readyz answers 200 (unless `waitReady` is false). `env` adds to the environment (e.g.
 * API_WORKERS, DB_PATH, MODEL_REGISTRY).
 */
export async function spawnApi(env: Record<string, string>, readyWithinMs = 80_000, waitReady = true): Promise<ApiProcess> {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url))], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_CONSOLE: 'false', API_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + readyWithinMs;
  while (waitReady) {
    if (child.exitCode !== null) throw new Error(`api exited early: ${output}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`api not ready within ${readyWithinMs} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, output: () => output };
}

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/** A CLI of this package (`src/cli/*.ts`) as a user runs it: its own process, from the project root. */
export function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: projectRoot(),
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
