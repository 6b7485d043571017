/**
 * Fashion-MNIST IDX loader. Finds the four official files in the first folder that has them
 * (FASHION_MNIST_DIR, Debian's dataset-fashion-mnist, the shared data folder beside the checkout,
 * <root>/data/fashion-mnist), else downloads them. Every file is checked against the checksum of
 * its DECOMPRESSED content, so Debian's re-headered .gz copies pass and a corrupt one fails.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { projectRoot, type Logger } from '@refund-vision/shared';

export type Split = 'train' | 'test';

interface FileSpec {
  name: string;
  magic: number;
  count: number;
  bytes: number;
  sha256: string;
}

/** Checksums of the decompressed IDX files (zalandoresearch/fashion-mnist). */
export const FILES: Record<Split, { images: FileSpec; labels: FileSpec }> = {
  train: {
    images: {
      name: 'train-images-idx3-ubyte',
      magic: 0x803,
      count: 60000,
      bytes: 47040016,
      sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    },
    labels: {
      name: 'train-labels-idx1-ubyte',
      magic: 0x801,
      count: 60000,
      bytes: 60008,
      sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    },
  },
  test: {
    images: {
      name: 't10k-images-idx3-ubyte',
      magic: 0x803,
      count: 10000,
      bytes: 7840016,
      sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    },
    labels: {
      name: 't10k-labels-idx1-ubyte',
      magic: 0x801,
      count: 10000,
      bytes: 10008,
      sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
  },
};

/** The official files, from the zalandoresearch/fashion-mnist repository (HTTPS). */
const DOWNLOAD_BASE = 'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/';

export interface FashionMnist {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Folder the files came from. */
  source: string;
}

export class DatasetError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'DatasetError';
  }
}

export function candidateDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const root = projectRoot();
  const dirs = [
    env.FASHION_MNIST_DIR,
    '/usr/share/datasets/fashion-mnist',
    resolve(root, '..', 'shared', 'data', 'fashion-mnist'),
    join(root, 'data', 'fashion-mnist'),
  ];
  return dirs.filter((d): d is string => !!d);
}

/** The file as stored: plain IDX or .gz. */
function locate(dir: string, spec: FileSpec): string | undefined {
  for (const name of [spec.name, `${spec.name}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function hasAll(dir: string, split: Split): boolean {
  const f = FILES[split];
  return !!locate(dir, f.images) && !!locate(dir, f.labels);
}

/** Reads, decompresses and verifies one file; returns the payload after the IDX header. */
export function readIdx(path: string, spec: FileSpec): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new DatasetError(path, `cannot read (${(e as Error).message})`);
  }
  let data: Buffer = raw;
  if (path.endsWith('.gz')) {
    try {
      data = gunzipSync(raw);
    } catch (e) {
      throw new DatasetError(path, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  if (data.length !== spec.bytes)
    throw new DatasetError(path, `expected ${spec.bytes} bytes of IDX data, found ${data.length} (truncated or wrong file)`);
  const headerLen = spec.magic === 0x803 ? 16 : 8;
  const magic = data.readUInt32BE(0);
  const count = data.readUInt32BE(4);
  if (magic !== spec.magic) throw new DatasetError(path, `bad IDX magic 0x${magic.toString(16)}, expected 0x${spec.magic.toString(16)}`);
  if (count !== spec.count) throw new DatasetError(path, `header says ${count} items, expected ${spec.count}`);
  const sha = createHash('sha256').update(data).digest('hex');
  if (sha !== spec.sha256)
    throw new DatasetError(path, `checksum mismatch (sha-256 of content ${sha}, expected ${spec.sha256}): the file is corrupt`);
  return new Uint8Array(data.buffer, data.byteOffset + headerLen, data.length - headerLen);
}

async function download(dir: string, split: Split, logger?: Logger): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const spec of [FILES[split].images, FILES[split].labels]) {
    const url = `${DOWNLOAD_BASE}${spec.name}.gz`;
    logger?.info('downloading Fashion-MNIST file', { url });
    const res = await fetch(url);
    if (!res.ok) throw new DatasetError(url, `download failed: HTTP ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    const tmp = join(dir, `${spec.name}.gz.part`);
    writeFileSync(tmp, body);
    readIdx(tmp, spec); // verify before the file takes its final name
    renameSync(tmp, join(dir, `${spec.name}.gz`));
  }
}

const cache = new Map<string, FashionMnist>();

/**
 * Loads a split (decoded arrays are cached per process). `dir` forces one folder; otherwise the
 * search order above applies and, when no folder has the files, they are downloaded to
 * <root>/data/fashion-mnist.
 */
export async function loadFashionMnist(split: Split, opts: { dir?: string; logger?: Logger } = {}): Promise<FashionMnist> {
  let dir = opts.dir ? resolve(opts.dir) : candidateDirs().find((d) => hasAll(d, split));
  if (!dir) {
    dir = join(projectRoot(), 'data', 'fashion-mnist');
    await download(dir, split, opts.logger);
  }
  const key = `${split}|${dir}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const spec = FILES[split];
  const imgPath = locate(dir, spec.images);
  const lblPath = locate(dir, spec.labels);
  if (!imgPath || !lblPath) throw new DatasetError(join(dir, spec.images.name), 'Fashion-MNIST file not found');
  const images = readIdx(imgPath, spec.images);
  const labels = readIdx(lblPath, spec.labels);
  const out: FashionMnist = { images, labels, count: spec.images.count, source: dir };
  cache.set(key, out);
  opts.logger?.debug('loaded Fashion-MNIST', { split, source: dir });
  return out;
}
