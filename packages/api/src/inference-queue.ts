/**
 * Model runs take turns on the event loop. Both engines run a batch synchronously on this thread
 * (onnxruntime-node calls its native session inside a setImmediate; tfjs wasm computes inline), so
 * when several admitted requests reach the model together their runs execute back to back in one
 * pass of the event loop, and nothing else — not /readyz, not a new connection, not a body being
 * read — is served until all of them are done: with the default 8 batch-256 requests admitted,
 * 0.4–0.6 s per pass on a quiet machine and seconds on a busy one (issue 12 item 5, bench row 12).
 * Here one run goes at a time, in arrival order, and each starts on a fresh turn of the event loop
 * (behind a setImmediate, so the poll phase runs first): pending I/O is handled between two runs,
 * and a probe waits for at most one run. Throughput does not change; the runs were sequential on
 * this thread anyway.
 *
 * A run is at most `maxImagesPerRun` images (`predict` splits a batch): one run of a whole batch-256
 * request took ~250 ms with the mirror-averaged four-member model (0.95 ms/img), long enough that a
 * probe arriving behind a few such turns waited 4.5–5 s (bench row 12). A request's chunks are queued
 * together, so they still run back to back in arrival order, each on its own turn.
 */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import type { ServedRows } from '@refund-vision/model';

/** ~60 ms of the committed model per turn (0.95 ms/img); per-image cost is flat from batch ~32 up. */
export const MAX_IMAGES_PER_RUN = 64;

/** What the queue runs: a classifier's answers, and its label head's probabilities when it has one. */
export interface RowsModel {
  predictRows(pixels: Uint8Array, n: number): Promise<ServedRows>;
}

export interface InferenceQueue {
  /** Runs `work` once every earlier run has finished and the event loop has polled for I/O since. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /**
   * N×784 pixels → N×10 probabilities from `model`, in runs of at most maxImagesPerRun images,
   * each on its own turn (queued together, so one request's runs stay in order and contiguous).
   */
  predict(model: RowsModel, pixels: Uint8Array, n: number): Promise<Float32Array>;
  /** The same, with the label head's N×L probabilities beside the answers when the model has one. */
  predictRows(model: RowsModel, pixels: Uint8Array, n: number): Promise<ServedRows>;
  /** Runs waiting for their turn (the one running not counted). */
  readonly waiting: number;
}

/**
 * An immediate queued while immediates are being processed runs on the next turn of the event loop;
 * one queued from an I/O callback runs right after this turn's poll phase. Either way, I/O that is
 * ready now is handled before the promise resolves.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The chunks' rows back into one batch (each part at its own width). */
function joinRows(parts: ServedRows[], n: number): ServedRows {
  const join = (pick: (r: ServedRows) => Float32Array | undefined): Float32Array | undefined => {
    const chunks = parts.map(pick);
    if (chunks.some((c) => !c)) return undefined;
    const out = new Float32Array(chunks.reduce((s, c) => s + c!.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c!, at);
      at += c!.length;
    }
    return out;
  };
  const probs = join((r) => r.probs)!;
  if (probs.length !== n * NUM_CLASSES) throw new Error(`${probs.length} probabilities for ${n} images`);
  const labels = join((r) => r.labels);
  return labels ? { probs, labels } : { probs };
}

export function createInferenceQueue(maxImagesPerRun = MAX_IMAGES_PER_RUN): InferenceQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  return {
    async predict(model, pixels, n) {
      return (await this.predictRows(model, pixels, n)).probs;
    },
    async predictRows(model, pixels, n) {
      // a wrong pixel count goes to the model whole, so its error is the model's own
      if (n <= maxImagesPerRun || pixels.length !== n * PIXELS_PER_IMAGE) return this.run(() => model.predictRows(pixels, n));
      const parts: Promise<ServedRows>[] = [];
      for (let start = 0; start < n; start += maxImagesPerRun) {
        const m = Math.min(maxImagesPerRun, n - start);
        const chunk = pixels.subarray(start * PIXELS_PER_IMAGE, (start + m) * PIXELS_PER_IMAGE);
        parts.push(this.run(() => model.predictRows(chunk, m)));
      }
      return joinRows(await Promise.all(parts), n);
    },
    run<T>(work: () => Promise<T>): Promise<T> {
      waiting++;
      const turn = tail.then(nextTurn).then(() => {
        waiting--;
        return work();
      });
      // A failed run fails its own caller only; the next one still gets its turn.
      tail = turn.catch(() => undefined);
      return turn;
    },
    get waiting() {
      return waiting;
    },
  };
}
