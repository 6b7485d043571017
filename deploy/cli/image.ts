/** `pnpm image [--force]`: the OCI image of the build, without a Docker daemon (see ../image.ts). */
import { buildImage } from '../image.ts';

const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const t0 = performance.now();
buildImage({ force: process.argv.includes('--force') })
  .then((r) => {
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    process.stdout.write(
      `[image] ${r.ref} ${r.manifestDigest}\n` +
        `[image] size: ${mb(r.compressedBytes)} compressed (layers + config), ${mb(r.rootfsBytes)} unpacked; ${r.rebuilt ? `built in ${s} s` : 'unchanged'}\n` +
        `[image] OCI layout ${r.layout} (tag ${r.ref.split(':')[1]}), archive ${r.archive}\n` +
        `[image] load it: podman load -i ${r.archive}   |   docker load -i ${r.archive} (Docker 25+)\n`,
    );
  })
  .catch((e: Error) => {
    process.stderr.write(`[image] failed: ${e.message}\n`);
    process.exit(1);
  });
