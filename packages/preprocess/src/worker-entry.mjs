// Plain-JS entry for the pool's worker threads: a worker does not reliably inherit the parent's
// TypeScript loader (it depends on how the parent was started: `tsx`, `node --import tsx`, mocha),
// so the pool starts workers with no loader flags and this file registers tsx itself.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
