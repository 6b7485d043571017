/**
 * Shadow traffic: when the registry names a challenger, it answers the same images the champion just
 * answered, after the reply has gone out; its answers are recorded, never returned. Shadowing must not
 * slow serving, so at most one shadow prediction runs at a time and images that arrive meanwhile are
 * skipped (and counted): the comparison is a sample of live traffic, not all of it.
 */
import type { Logger } from '@refund-vision/shared';
import { argmaxRow, type Classifier } from '@refund-vision/model';
import type { InferenceQueue } from './inference-queue.ts';
import type { Store } from './store/index.ts';

export interface ShadowObserver {
  /** Queues the challenger's look at a recorded batch (returns at once). */
  observe(pixels: Uint8Array, n: number, predictionIds: number[] | undefined): void;
  /** Resolves when no shadow prediction is running (tests, shutdown). */
  idle(): Promise<void>;
  readonly skippedImages: number;
}

export function createShadowObserver(opts: {
  challenger: () => Classifier | null;
  /** The champion's queue: a shadow run takes its turn like any other run on this thread. */
  inference: InferenceQueue;
  store: Store;
  logger: Logger;
}): ShadowObserver {
  let running: Promise<void> | null = null;
  let skipped = 0;
  return {
    observe(pixels, n, predictionIds) {
      const challenger = opts.challenger();
      if (!challenger || !predictionIds?.length || n === 0) return;
      if (running) {
        skipped += n;
        return;
      }
      // Copy: the request's buffer may be reused once the reply is out.
      const px = pixels.slice();
      running = (async () => {
        try {
          const probs = await opts.inference.predict(challenger, px, n);
          const answers = predictionIds.map((predictionId, i) => {
            const { index, value } = argmaxRow(probs, i);
            return { predictionId, classIndex: index, confidence: Math.round(value * 1e6) / 1e6 };
          });
          await opts.store.shadow.record(challenger.version, answers);
        } catch (e) {
          // A disposed challenger (retired mid-flight) or a store hiccup loses a sample, nothing else.
          opts.logger.warn('shadow prediction not recorded', { challenger: challenger.version, error: (e as Error).message });
        } finally {
          running = null;
        }
      })();
    },
    async idle() {
      while (running) await running;
    },
    get skippedImages() {
      return skipped;
    },
  };
}
