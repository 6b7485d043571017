// Plain-JS entry for the training replicas' worker threads (see replicas.ts): a worker does not
// reliably inherit the parent's TypeScript loader, so it starts with no loader flags and registers
// tsx's CommonJS hooks itself (as the preprocess pool's worker-entry.mjs does).
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
createRequire(import.meta.url)('./replica-worker.ts');
