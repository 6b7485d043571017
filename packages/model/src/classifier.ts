/**
 * The API's view of the model: load once, predict N×784 uint8 → N×10 probabilities on the best
 * engine available. TensorFlow.js is imported only when a tfjs engine is used. auto = onnx (onnxruntime-node loads and model.onnx matches the weights), then
 * tfjs-node, wasm, cpu. A forced engine that cannot run is an error, never a silent fallback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ModelCard, PIXELS_PER_IMAGE, type Logger } from '@refund-vision/shared';
import { EngineUnavailableError, parseBackend, type BackendChoice, type EngineName } from './backend-choice.ts';
import { readArtifacts, shortSha256, weightsVersion } from './model-files.ts';
import { applyConfidenceMap } from './confidence-map.ts';
import { splitRows, type ServedRows } from './label-rows.ts';
import { createOnnxRunner, loadOrt, type OnnxRunner } from './onnx-engine.ts';

export interface Classifier {
  /** card.version: content hash of the weights. */
  readonly version: string;
  /** The engine that actually runs. */
  readonly engine: EngineName;
  readonly card: ModelCard;
  /**
   * pixels: N×784 uint8 (row-major, 0 = black background). Returns N×10 probabilities: the net's
   * softmax, with the card's confidence map applied when it has one.
   */
  predict(pixels: Uint8Array, n: number): Promise<Float32Array>;
  /**
   * The same answers, and from a net with a label head (card `inference.labelHead`) its N×L label
   * probabilities, which a review policy with a `labelHead` score reads.
   */
  predictRows(pixels: Uint8Array, n: number): Promise<ServedRows>;
  warmup(): Promise<void>;
  dispose(): Promise<void>;
}

export interface LoadClassifierOptions {
  dir: string;
  /** Default: env TFJS_BACKEND, else auto. */
  backend?: BackendChoice;
  logger?: Logger;
  /** ONNX Runtime intra-op threads (default env ORT_THREADS, else 1). */
  threads?: number;
}

export const ONNX_FILE = 'model.onnx';

export function readCard(dir: string): ModelCard {
  const path = join(dir, 'model-card.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read model card ${path}: ${(e as Error).message}`);
  }
  const parsed = ModelCard.safeParse(raw);
  if (!parsed.success)
    throw new Error(`invalid model card ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

function checkInput(pixels: Uint8Array, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`predict: n must be a non-negative integer, got ${n}`);
  if (pixels.length !== n * PIXELS_PER_IMAGE)
    throw new RangeError(`predict: expected ${n * PIXELS_PER_IMAGE} bytes for ${n} images, got ${pixels.length}`);
}

/** Why model.onnx cannot serve this model, or undefined when it can. */
function onnxProblem(dir: string, card: ModelCard): string | undefined {
  const path = join(dir, ONNX_FILE);
  if (!existsSync(path)) return `${path} does not exist (run pnpm train or the ONNX export)`;
  const meta = (card as Record<string, any>).onnx as { sha256?: string; weightsVersion?: string; flipAverage?: string } | undefined;
  const sha = shortSha256(readFileSync(path));
  if (!meta?.sha256) return `model-card.json records no ONNX export`;
  if (meta.sha256 !== sha || meta.weightsVersion !== card.version)
    return `${path} is stale: it was not exported from weights ${card.version}`;
  if (!!meta.flipAverage !== (card.inference?.flipAverage === true))
    return `${path} is stale: the card ${card.inference?.flipAverage ? 'averages' : 'does not average'} mirror images, the export ${meta.flipAverage ? 'does' : 'does not'}`;
  return undefined;
}

function make(
  card: ModelCard,
  engine: EngineName,
  run: (p: Uint8Array, n: number) => Promise<Float32Array>,
  release: () => Promise<void>,
): Classifier {
  let disposed = false;
  // the card's map of the served confidence, after whichever engine ran the net
  const map = card.inference?.confidenceMap;
  return {
    version: card.version,
    engine,
    card,
    async predict(pixels, n) {
      return (await this.predictRows(pixels, n)).probs;
    },
    async predictRows(pixels, n) {
      if (disposed) throw new Error('classifier disposed');
      checkInput(pixels, n);
      if (n === 0) return { probs: new Float32Array(0) };
      // a net with a label head answers 10 + L columns: the answers, then the labels (label-rows.ts)
      const { probs, labels } = splitRows(await run(pixels, n), n);
      return { probs: map ? applyConfidenceMap(probs, map) : probs, ...(labels ? { labels } : {}) };
    },
    async warmup() {
      await this.predict(new Uint8Array(PIXELS_PER_IMAGE), 1);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await release();
    },
  };
}

export async function loadClassifier(opts: LoadClassifierOptions): Promise<Classifier> {
  const dir = resolve(opts.dir);
  const log = opts.logger;
  const choice = opts.backend ?? parseBackend(process.env.TFJS_BACKEND);
  const card = readCard(dir);
  // The ONNX engine serves model.onnx, which the card ties to its version by the export's own hash
  // (onnxProblem); the tfjs weights (a combined ensemble's are gzipped: unzipping and hashing 15 MB
  // for four members, 61 MB for eight, would only slow the start) are read only to serve them.
  if (choice === 'onnx' || choice === 'auto') {
    const problem = onnxProblem(dir, card) ?? (await loadOrt()).failure;
    if (!problem) {
      const threads = opts.threads ?? (Number(process.env.ORT_THREADS) || 1);
      const runner: OnnxRunner = await createOnnxRunner(join(dir, ONNX_FILE), threads);
      log?.info('model loaded', { engine: 'onnx', version: card.version, threads, dir });
      return make(
        card,
        'onnx',
        (p, n) => runner.run(p, n),
        () => runner.release(),
      );
    }
    if (choice === 'onnx') throw new EngineUnavailableError('onnx', problem);
    log?.debug('onnx engine unavailable, trying tfjs', { reason: problem });
  }

  const { artifacts, weights } = readArtifacts(dir);
  const actual = weightsVersion(weights);
  if (actual !== card.version)
    throw new Error(`model-card.json in ${dir} is for weights ${card.version}, but the weights hash to ${actual}`);
  // TensorFlow.js loads only here: the onnx path starts faster without it.
  const { initTf, tf, useTfEngine } = await import('./engine.ts');
  const { predictTf } = await import('./predict-tf.ts');
  const { servingNets } = await import('./ensemble.ts');
  const engine = await initTf(choice, log);
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const { nets, members, why } = servingNets(model, card);
  if (members) model.dispose();
  else if (why) log?.warn('serving the combined net whole, not its members', { version: card.version, reason: why });
  log?.info('model loaded', { engine, version: card.version, dir, nets: nets.length });
  const run = async (p: Uint8Array, n: number) => {
    await useTfEngine(engine);
    return predictTf(nets, p, n, undefined, card.inference?.flipAverage === true);
  };
  return make(card, engine, run, async () => {
    nets.forEach((net) => net.dispose());
  });
}
