/**
 * `pnpm build`: what production runs, in dist/app — compiled JavaScript, not tsx.
 *
 *   dist/app/bin/*.mjs          esbuild bundles of our code, one per entry point, shared chunks beside them
 *   dist/app/bin/public/        the dashboard's page, script and style (static.ts serves <bundle dir>/public)
 *   dist/app/node_modules/      the third-party runtime dependencies: a flat (hoisted) production install
 *                               from the workspace lockfile, so the bundles' bare imports resolve
 *   dist/app/models/fashion-cnn the committed model
 *   dist/app/pnpm-workspace.yaml, package.json, packages/*\/package.json
 *                               the manifests that install came from; pnpm-workspace.yaml also marks
 *                               dist/app as the project root for config (data/, logs/, models/)
 *
 * Only our own packages are bundled. Every npm package stays external: native addons (better-sqlite3,
 * sharp, onnxruntime-node, pg) must, and packages that find files beside themselves at run time
 * (tfjs wasm binaries, swagger-ui-dist, chart.js, @jsquash/webp) would break inside a bundle.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { build, type Plugin } from 'esbuild';
import { projectRoot } from '@refund-vision/shared';

/** Entry points of the build: output name (bin/<name>.mjs) → source. */
export const ENTRY_POINTS = {
  /** the API (`node bin/main.mjs`), cluster primary and workers alike */
  main: 'packages/api/src/main.ts',
  /** `pnpm metrics` */
  metrics: 'packages/api/src/cli/metrics.ts',
  /** the client: daily scheduler, one run now, the events log */
  schedule: 'packages/client/src/cli/schedule.ts',
  batch: 'packages/client/src/cli/batch.ts',
  events: 'packages/client/src/cli/events.ts',
  /** the preprocess pool's worker thread: pool.ts starts `new URL('./worker-entry.mjs', import.meta.url)`,
   *  which in the bundle is this file, next to the chunk holding pool.ts */
  'worker-entry': 'packages/preprocess/src/worker.ts',
  /** the image's HEALTHCHECK equivalent: exit 0 when /readyz says 200 */
  healthcheck: 'deploy/healthcheck.ts',
  /** the migration Job: schema up to date, then exit */
  migrate: 'deploy/migrate.ts',
} as const;

/** Files of node_modules that production never loads, removed to keep the image small. */
const PRUNE = [
  // The tfjs native accelerator cannot install without its own download; the image serves on ONNX Runtime.
  'node_modules/@tensorflow/tfjs-node',
  // onnxruntime-node ships every platform's library; the image is linux-x64.
  'node_modules/onnxruntime-node/bin/napi-v6/darwin',
  'node_modules/onnxruntime-node/bin/napi-v6/win32',
  'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64',
  // better-sqlite3's sources (SQLite amalgamation, C++), needed only to compile the addon.
  'node_modules/better-sqlite3/deps',
  'node_modules/better-sqlite3/src',
  // tsx (and esbuild under it) only run TypeScript from source; the bundles need neither.
  'node_modules/tsx',
  'node_modules/esbuild',
  'node_modules/@esbuild',
  'node_modules/@types',
];
/** File names pruned anywhere under node_modules. */
const PRUNE_FILES = /\.(map|d\.ts|d\.mts|d\.cts|md|markdown)$/i;

export interface BuildResult {
  dir: string;
  bundles: string[];
  installed: boolean;
}

/**
 * Bundle our own workspace packages (@refund-vision/*, relative imports); leave every other bare import
 * to the flat node_modules — unless the version hoisted there is not the one our code was written
 * against (jimp's plugins pull zod 3 to the top while we use zod 4): such a package is bundled.
 */
function externalNpm(root: string, out: string, bundled: Set<string>): Plugin {
  return {
    name: 'external-npm',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@refund-vision/') || args.path.startsWith('node:')) return undefined;
        const name = packageName(args.path);
        const want = installedVersion(dirname(args.importer), name, root);
        const have = installedVersion(out, name, out);
        if (!want || want === have) return { path: args.path, external: true };
        bundled.add(`${name}@${want}`);
        return undefined;
      });
    },
  };
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The version of `name` that Node would load from `from`, looking up to `stop`; undefined when none. */
function installedVersion(from: string, name: string, stop: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
    if (dir === stop || dirname(dir) === dir) return undefined;
  }
}

export async function buildApp(opts: { root?: string; out?: string; log?: (m: string) => void } = {}): Promise<BuildResult> {
  const root = opts.root ?? projectRoot();
  const out = opts.out ?? join(root, 'dist', 'app');
  const log = opts.log ?? ((m: string) => process.stdout.write(`[build] ${m}\n`));
  mkdirSync(out, { recursive: true });

  const installed = installRuntimeDeps(root, out, log);

  const bin = join(out, 'bin');
  const bundled = new Set<string>();
  rmSync(bin, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([k, v]) => [k, join(root, v)])),
    outdir: bin,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    // Chunks sit beside the entries: pool.ts and static.ts find files relative to their own module.
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    plugins: [externalNpm(root, out, bundled)],
    metafile: true,
    logLevel: 'warning',
  });
  cpSync(join(root, 'packages/api/src/dashboard/public'), join(bin, 'public'), { recursive: true });

  const modelsOut = join(out, 'models', 'fashion-cnn');
  rmSync(modelsOut, { recursive: true, force: true });
  cpSync(join(root, 'models', 'fashion-cnn'), modelsOut, { recursive: true });

  const bundles = Object.keys(result.metafile.outputs)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => relative(out, join(root, f)));
  if (bundled.size) log(`bundled (another version is hoisted in node_modules): ${[...bundled].join(', ')}`);
  log(`${bundles.length} modules in ${relative(root, bin)} (${Object.keys(ENTRY_POINTS).length} entry points)`);
  return { dir: out, bundles, installed };
}

/**
 * A flat production install of the workspace's lockfile into `out`, reused while the manifests and
 * the lockfile are unchanged (a stamp holds their hash). pnpm's store makes it a copy, not a download.
 */
function installRuntimeDeps(root: string, out: string, log: (m: string) => void): boolean {
  const manifests = ['package.json', 'pnpm-lock.yaml', ...workspacePackages(root).map((p) => join(p, 'package.json'))];
  // The image never builds tfjs-node (it needs a download this build must not depend on).
  const workspaceYaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').replace(/^\s*- '@tensorflow\/tfjs-node'\n/m, '');
  const hash = createHash('sha256');
  for (const m of manifests) hash.update(m).update(readFileSync(join(root, m)));
  hash.update(workspaceYaml).update(PRUNE.join('\n'));
  const stamp = join(out, 'node_modules', '.refund-vision-install');
  const digest = hash.digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return false;

  log('installing production dependencies (flat node_modules) …');
  rmSync(join(out, 'node_modules'), { recursive: true, force: true });
  rmSync(join(out, 'packages'), { recursive: true, force: true });
  for (const m of manifests) {
    mkdirSync(join(out, m, '..'), { recursive: true });
    cpSync(join(root, m), join(out, m));
  }
  writeFileSync(join(out, 'pnpm-workspace.yaml'), workspaceYaml);
  const pnpm = pnpmCommand(root);
  const r = spawnSync(
    pnpm[0]!,
    [
      ...pnpm.slice(1),
      'install',
      '--prod',
      '--frozen-lockfile',
      '--prefer-offline',
      '--config.node-linker=hoisted',
      '--reporter=append-only',
    ],
    { cwd: out, encoding: 'utf8', env: { ...process.env, CI: 'true' } },
  );
  // r.error: pnpm (or npx) could not be started at all, so there is no output to show.
  if (r.status !== 0)
    throw new Error(
      `pnpm install in ${out} failed${r.error ? ` (${r.error.message})` : ''}:\n${(r.stdout ?? '') + (r.stderr ?? '')}`.slice(-4000),
    );
  for (const p of PRUNE) rmSync(join(out, p), { recursive: true, force: true });
  pruneFiles(join(out, 'node_modules'));
  writeFileSync(stamp, digest);
  return true;
}

function workspacePackages(root: string): string[] {
  return readdirSync(join(root, 'packages'))
    .map((d) => join('packages', d))
    .filter((d) => existsSync(join(root, d, 'package.json')));
}

function pruneFiles(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) pruneFiles(p);
    else if (e.isFile() && PRUNE_FILES.test(e.name)) rmSync(p);
  }
}

/** The pinned pnpm: the one on PATH when it is that version, else through npx. */
export function pnpmCommand(root: string): string[] {
  const spec = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager: string }).packageManager;
  const own = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (own.status === 0 && own.stdout.trim() === spec.split('@')[1]) return ['pnpm'];
  return ['npx', '--yes', spec];
}

/** Size of a folder in bytes (files only, links not followed). */
export function folderBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += folderBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}
