#!/usr/bin/env node
// `npm start` / `npm test` on a fresh clone with only Node >= 20.15 and npm:
// check the Node version, install the workspace with the pinned pnpm when needed, then hand over.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeVersionProblem } from './node-version.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tooOld = nodeVersionProblem(process.versions.node, pkg.engines.node);
if (tooOld) {
  console.error(`[bootstrap] ${tooOld}`);
  process.exit(1);
}
const pnpmSpec = pkg.packageManager; // e.g. pnpm@10.34.9 — corepack cannot verify it here, npx can fetch it.
const [command = 'start', ...rest] = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function pnpm(args) {
  const own = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  const want = pnpmSpec.split('@')[1];
  if (own.status === 0 && own.stdout.trim() === want) return run('pnpm', args);
  return run('npx', ['--yes', pnpmSpec, ...args]);
}

function needsInstall() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (!existsSync(marker)) return true;
  const lock = join(root, 'pnpm-lock.yaml');
  return existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs;
}

if (needsInstall()) {
  console.log(`[bootstrap] installing dependencies with ${pnpmSpec} …`);
  const frozen = existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
  const code = pnpm(['install', ...frozen]);
  if (code !== 0) {
    console.error('[bootstrap] install failed');
    process.exit(code);
  }
}

const tsx = join(root, 'node_modules', '.bin', 'tsx');
const mocha = join(root, 'node_modules', '.bin', 'mocha');
if (command === 'test') process.exit(run(mocha, rest));
if (command === 'start') process.exit(run(tsx, [join(root, 'scripts', 'start.ts'), ...rest]));
console.error(`[bootstrap] unknown command ${command}`);
process.exit(2);
