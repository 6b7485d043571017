/**
 * The image's HEALTHCHECK equivalent (`node bin/healthcheck.mjs`): exit 0 when the API in this
 * container answers /readyz with 200 within 3 s, else 1 with the reason. OCI image configs carry no
 * health check, so the Dockerfile, compose.yaml and the docs name this command.
 */
import { loadConfig } from '@refund-vision/shared';

const { port } = loadConfig().api;
try {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`/readyz answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  process.exit(0);
} catch (e) {
  process.stderr.write(`unhealthy: ${(e as Error).message}\n`);
  process.exit(1);
}
