/** What every row module gets: run mode, temp space, the model, the peers, the data as raw files. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerStatus, PeerName } from './python.ts';
import type { Row } from './table.ts';
import { ROOT } from './proc.ts';

export interface DataFiles {
  /** 10,000 test images, raw uint8 N×784, and their labels (uint8 N). */
  testImages: string;
  testLabels: string;
  /** The first `trainCount` training images and labels. */
  trainImages: string;
  trainLabels: string;
}

export interface Ctx {
  quick: boolean;
  tmp: string;
  modelDir: string;
  log: (line: string) => void;
  peers: PeerStatus;
  samples: string[];
  /** Loaded on first use through the model package's loader. */
  data(): Promise<DataFiles>;
  /** The core single-thread measurements are pinned to (taskset -c). */
  cpu: string;
}

export const MODEL_DIR = join(ROOT, 'models', 'fashion-cnn');

export function exists(rel: string): boolean {
  return existsSync(join(ROOT, rel));
}

/** A row whose figures could not be measured, with the reason in place of the numbers. */
export function unavailable(item: number, metric: string, unit: string, reason: string, goal?: Row['goal']): Row {
  return { item, metric, unit, ours: null, peer: null, note: reason, ...(goal ? { goal } : {}) };
}

/** Why a peer cannot run, or undefined when it can. */
export function peerProblem(ctx: Ctx, ...names: PeerName[]): string | undefined {
  const missing = names.filter((n) => !ctx.peers.versions[n]);
  return missing.length ? `peer unavailable: ${missing.map((n) => `${n} (${ctx.peers.problems[n] ?? 'missing'})`).join('; ')}` : undefined;
}

export function readCardJson(dir = MODEL_DIR): Record<string, any> | undefined {
  const p = join(dir, 'model-card.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>) : undefined;
}

export function makeDataLoader(tmp: string, trainCount: number): () => Promise<DataFiles> {
  let cached: Promise<DataFiles> | undefined;
  return () =>
    (cached ??= (async () => {
      const { loadFashionMnist } = await import('../../packages/model/src/index.ts');
      const dir = join(tmp, 'data');
      mkdirSync(dir, { recursive: true });
      const test = await loadFashionMnist('test');
      const train = await loadFashionMnist('train');
      const files: DataFiles = {
        testImages: join(dir, 'test-images.u8'),
        testLabels: join(dir, 'test-labels.u8'),
        trainImages: join(dir, 'train-images.u8'),
        trainLabels: join(dir, 'train-labels.u8'),
      };
      writeFileSync(files.testImages, test.images.subarray(0, test.count * 784));
      writeFileSync(files.testLabels, test.labels.subarray(0, test.count));
      const m = Math.min(trainCount, train.count);
      writeFileSync(files.trainImages, train.images.subarray(0, m * 784));
      writeFileSync(files.trainLabels, train.labels.subarray(0, m));
      return files;
    })());
}
