/** Evaluates a saved model on the 10,000 Fashion-MNIST test images with the chosen engine. */
import type { Logger } from '@refund-vision/shared';
import { loadClassifier } from './classifier.ts';
import type { BackendChoice, EngineName } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { evaluate, type Evaluation } from './metrics.ts';

export interface EvaluationReport extends Evaluation {
  model: string;
  version: string;
  engine: EngineName;
  /** Wall time of the predictions only, in ms per image. */
  msPerImage: number;
  /** Accuracy the model card claims, for comparison. */
  cardAccuracy: number;
}

export async function evaluateModel(opts: {
  dir: string;
  backend?: BackendChoice;
  limit?: number;
  logger?: Logger;
}): Promise<EvaluationReport> {
  const test = await loadFashionMnist('test', { logger: opts.logger });
  const n = Math.min(opts.limit ?? test.count, test.count);
  const clf = await loadClassifier({ dir: opts.dir, backend: opts.backend, logger: opts.logger });
  try {
    await clf.warmup();
    const t0 = performance.now();
    const probs = await clf.predict(test.images.subarray(0, n * 784), n);
    const ms = performance.now() - t0;
    const ev = evaluate(probs, test.labels.subarray(0, n));
    return {
      model: clf.card.name,
      version: clf.version,
      engine: clf.engine,
      msPerImage: Math.round((ms / n) * 1e4) / 1e4,
      cardAccuracy: clf.card.evaluation.accuracy,
      ...ev,
    };
  } finally {
    await clf.dispose();
  }
}
