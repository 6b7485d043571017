/**
 * The real API for end-to-end tests, built only from the packages' public entry points: started in
 * this process on an ephemeral port with the committed model, its SQLite file and logs in a temp
 * folder. Also the Fashion-MNIST test set and what the API stored for a run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type ServerHandle, type StoredPrediction } from '@refund-vision/api';
import { loadClassifier, loadFashionMnist, type Classifier, type FashionMnist } from '@refund-vision/model';
import { createLogger, loadConfig, projectRoot, type ConfigOverrides, type ModelCard } from '@refund-vision/shared';

export const modelDir = (): string => join(projectRoot(), 'models', 'fashion-cnn');

let model: Promise<Classifier> | undefined;
let testSet: Promise<FashionMnist> | undefined;

/** The Fashion-MNIST test split, read once per test process. */
export function fashionTest(): Promise<FashionMnist> {
  return (testSet ??= loadFashionMnist('test'));
}

export interface TestApi extends ServerHandle {
  /** The API's root folder (database, logs). */
  dir: string;
  stop(): Promise<void>;
}

/** The committed model, loaded once per test process. */
export function sharedModel(): Promise<Classifier> {
  return (model ??= loadClassifier({ dir: modelDir() }));
}

/** API folders, removed when the test process exits (one exit listener for all of them). */
const folders = new Set<string>();
process.once('exit', () => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts the API (`overrides` on top of the test defaults, e.g. an API key). Its folder is removed
 * when the test process exits, not at stop(): a winston file transport whose folder vanishes under
 * it crashes the process on its next write.
 */
export async function startApi(overrides: ConfigOverrides = {}, opts: { card?: Partial<ModelCard> } = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'rv-e2e-api-'));
  folders.add(dir);
  const config = loadConfig({
    env: {},
    overrides: {
      ...overrides,
      root: dir,
      api: { port: 0, ...overrides.api },
      model: { dir: modelDir() },
      logs: { console: false, level: 'warn' },
    },
  });
  const logger = createLogger('api', { dir: config.logs.dir, console: false, level: 'warn' });
  // One classifier for every API of the process: the engine is process-wide anyway.
  const shared = await sharedModel();
  // A card patch (e.g. a review policy) serves the same weights under other monitoring figures.
  const classifier = opts.card ? { ...shared, card: { ...shared.card, ...opts.card } } : shared;
  const handle = await startServer({ config, classifier, logger });
  return { ...handle, dir, stop: () => handle.close() };
}

/** Every prediction the API stored for a run, across pages. */
export async function storedPredictions(api: TestApi, runKey: string): Promise<StoredPrediction[]> {
  const run = await api.store.runs.getRunByKey(runKey);
  if (!run) return [];
  const out: StoredPrediction[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await api.store.runs.runPredictions(run.id, { limit: 1000, cursor });
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}
