/**
 * A classifier whose model can be replaced while it serves: the next model is loaded and warmed
 * before the switch, each prediction runs start to finish on the model it started on (and reports
 * which one that was), and the old model is released only when its last prediction is done. So a
 * promotion or a rollback costs no failed request, no restart and no readiness gap.
 */
import type { Classifier } from './classifier.ts';
import type { ServedRows } from './label-rows.ts';

export interface TaggedPrediction {
  probs: Float32Array;
  /** The model that produced these probabilities (its version goes into the record). */
  model: Classifier;
}

export class SwappableClassifier implements Classifier {
  #current: Classifier;
  readonly #inflight = new Map<Classifier, number>();
  readonly #retiring = new Set<Classifier>();
  #swapping: Promise<void> = Promise.resolve();

  constructor(initial: Classifier) {
    this.#current = initial;
  }

  get current(): Classifier {
    return this.#current;
  }
  get version() {
    return this.#current.version;
  }
  get engine() {
    return this.#current.engine;
  }
  get card() {
    return this.#current.card;
  }

  async predictTagged(pixels: Uint8Array, n: number): Promise<TaggedPrediction> {
    const { result, model } = await this.withModel((m) => m.predict(pixels, n));
    return { probs: result, model };
  }

  /**
   * Runs `work` on the model current now, which is not released before `work` is done (a swap
   * meanwhile serves new requests on the next model): for a prediction made of several runs.
   */
  async withModel<T>(work: (model: Classifier) => Promise<T>): Promise<{ result: T; model: Classifier }> {
    const model = this.#current;
    this.#inflight.set(model, (this.#inflight.get(model) ?? 0) + 1);
    try {
      return { result: await work(model), model };
    } finally {
      const left = this.#inflight.get(model)! - 1;
      if (left) this.#inflight.set(model, left);
      else this.#inflight.delete(model);
      if (!left && this.#retiring.has(model)) void this.#release(model);
    }
  }

  async predict(pixels: Uint8Array, n: number): Promise<Float32Array> {
    return (await this.predictTagged(pixels, n)).probs;
  }

  async predictRows(pixels: Uint8Array, n: number): Promise<ServedRows> {
    return (await this.withModel((m) => m.predictRows(pixels, n))).result;
  }

  warmup(): Promise<void> {
    return this.#current.warmup();
  }

  /**
   * Warms `next`, then makes it current. Swaps are serialised; swapping to the version already
   * served only releases `next`. Returns the model that was replaced (null when nothing changed).
   */
  swap(next: Classifier): Promise<Classifier | null> {
    const run = this.#swapping.then(async () => {
      if (next.version === this.#current.version && next.engine === this.#current.engine) {
        if (next !== this.#current) await next.dispose();
        return null;
      }
      await next.warmup();
      const old = this.#current;
      this.#current = next;
      this.#retiring.add(old);
      if (!this.#inflight.get(old)) await this.#release(old);
      return old;
    });
    this.#swapping = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #release(model: Classifier) {
    if (!this.#retiring.delete(model)) return;
    await model.dispose();
  }

  async dispose(): Promise<void> {
    await this.#swapping;
    await Promise.all([...this.#retiring].map((m) => this.#release(m)));
    await this.#current.dispose();
  }
}
