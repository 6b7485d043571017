/** `pnpm build`: bundles and runtime dependencies in dist/app (see ../build.ts). */
import { buildApp, folderBytes } from '../build.ts';

const t0 = performance.now();
buildApp()
  .then((r) => {
    const mb = (folderBytes(r.dir) / 2 ** 20).toFixed(0);
    process.stdout.write(`[build] ${r.dir}: ${mb} MB, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  })
  .catch((e: Error) => {
    process.stderr.write(`[build] failed: ${e.message}\n`);
    process.exit(1);
  });
