/** One pool thread: preprocesses the files or buffers it is sent, one reply per request. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { ImageError } from './errors.ts';
import { preprocessImage, type PreprocessOptions } from './preprocess.ts';
import type { Reply, Request } from './pool.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const opts = (workerData ?? {}) as PreprocessOptions;

/**
 * Each decode leaves megabytes of buffers (file, inflated rows, gray raster) outside the V8 heap;
 * V8 frees them only at a GC, which external memory alone triggers late (~64 MB), and glibc keeps
 * what a thread's arena once held: each worker's RSS grew ~40 MB over a folder. A young-generation
 * GC after every few megabytes of that garbage (well under a millisecond) keeps it at a few MB.
 */
const GC_EVERY_BYTES = 8 * 2 ** 20;
let minorGc: (() => void) | undefined;
try {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (o: { type: 'minor' }) => void;
  minorGc = () => gc({ type: 'minor' });
} catch {
  /* no explicit GC: memory is then only higher, results the same */
}
let garbage = 0;

port.on('message', async (req: Request) => {
  let reply: Reply;
  try {
    const input = req.path ?? Buffer.from(req.buf!.buffer, req.buf!.byteOffset, req.buf!.byteLength);
    const r = await preprocessImage(input, opts);
    reply = { id: req.id, ok: true, result: r };
  } catch (e) {
    const err = e as Error;
    reply = { id: req.id, ok: false, reason: e instanceof ImageError ? e.reason : undefined, message: err?.message ?? String(e) };
  }
  port.postMessage(reply, reply.ok ? [reply.result.pixels.buffer as ArrayBuffer] : []);
  // Roughly what the decode allocated: RGBA rows plus the gray raster (display size, so an upper bound).
  if (reply.ok) garbage += reply.result.width * reply.result.height * 5;
  if (minorGc && garbage >= GC_EVERY_BYTES) {
    garbage = 0;
    minorGc();
  }
});
