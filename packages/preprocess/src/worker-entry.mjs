// Plain-JS entry for the pool's worker threads: a worker does not reliably inherit the parent's
// TypeScript loader (it depends on how the parent was started: `tsx`, `node --import tsx`, mocha),
// so the pool starts workers with no loader flags and this file registers tsx itself.
//
// The worker's own modules are loaded through tsx's CommonJS hooks, which run in this thread.
// tsx's ESM hooks (module.register) would start one more loader thread per worker (~10 MB of RSS);
// they are registered only when an ESM-only module is first needed (jimp's decoder, see preprocess.ts).
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
globalThis[Symbol.for('refund-vision.preprocess.esm-ts')] = async () => (await import('tsx/esm/api')).register();
createRequire(import.meta.url)('./worker.ts');
