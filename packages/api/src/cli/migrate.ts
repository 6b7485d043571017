/**
 * `pnpm migrate` — brings the store (DATABASE_URL, else DB_PATH) to this build's schema and exits:
 * what a Kubernetes migration Job runs before new API replicas start. The API migrates at start
 * too, so on one machine this is never needed. Exit 0 when the store is current, 2 when it cannot
 * be used (the message names it).
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@refund-vision/shared';
import { openStore, storeOptions, StoreError } from '../store/index.ts';

export interface MigrateCliResult {
  code: number;
  out: string;
  err: string;
}

export async function migrateCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<MigrateCliResult> {
  if (argv.includes('-h') || argv.includes('--help'))
    return { code: 0, out: 'usage: pnpm migrate   (the store named by DATABASE_URL, else DB_PATH)\n', err: '' };
  if (argv.length) return { code: 1, out: '', err: `unexpected arguments: ${argv.join(' ')}\nusage: pnpm migrate\n` };
  const config = loadConfig({ env });
  try {
    const store = await openStore(storeOptions(config));
    await store.close();
    const what = store.applied.length ? `applied ${store.applied.join(', ')}` : 'already current';
    return { code: 0, out: `${store.location} (${store.kind}): ${what}; schema ${store.migrations.at(-1)}\n`, err: '' };
  } catch (e) {
    if (e instanceof StoreError) return { code: 2, out: '', err: `${e.message}\n` };
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await migrateCli(process.argv.slice(2));
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  process.exitCode = r.code;
}
