/** One pool thread: preprocesses the files or buffers it is sent, one reply per request. */
import { parentPort, workerData } from 'node:worker_threads';
import { ImageError } from './errors.ts';
import { preprocessImage, type PreprocessOptions } from './preprocess.ts';
import type { Reply, Request } from './pool.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const opts = (workerData ?? {}) as PreprocessOptions;

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
});
