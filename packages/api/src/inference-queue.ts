/**
 * Model runs take turns on the event loop. Both engines run a batch synchronously on this thread
 * (onnxruntime-node calls its native session inside a setImmediate; tfjs wasm computes inline), so
 * when several admitted requests reach the model together their runs execute back to back in one
 * pass of the event loop, and nothing else — not /readyz, not a new connection, not a body being
 * read — is served until all of them are done: with the default 8 batch-256 requests admitted,
 * 0.4–0.6 s per pass on a quiet machine and seconds on a busy one (issue 12 item 5, bench row 12).
 * Here one run goes at a time, in arrival order, and each starts on a fresh turn of the event loop
 * (behind a setImmediate, so the poll phase runs first): pending I/O is handled between two runs,
 * and a probe waits for at most one batch. Throughput does not change; the runs were sequential on
 * this thread anyway.
 */

export interface InferenceQueue {
  /** Runs `work` once every earlier run has finished and the event loop has polled for I/O since. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Runs waiting for their turn (the one running not counted). */
  readonly waiting: number;
}

/**
 * An immediate queued while immediates are being processed runs on the next turn of the event loop;
 * one queued from an I/O callback runs right after this turn's poll phase. Either way, I/O that is
 * ready now is handled before the promise resolves.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createInferenceQueue(): InferenceQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  return {
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
