#!/usr/bin/env node
// `npm start` / `npm test` on a fresh clone with only Node >= 20.15 and npm:
// check the Node version, install the workspace with the pinned pnpm when needed, then hand over.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
/**
 * `npm test`: the static checks, then every test; the last line is `N passed, N failed` with each
 * check counted as one test, so CI cannot pass while a check failed or never ran. A check that fails
 * does not stop the tests: one run shows everything that is wrong. `npm test -- <files>` runs just
 * those test files, without the checks.
 */
function test(args) {
  const checks = args.length ? [] : ['typecheck', 'lint', 'format:check'];
  const results = checks.map((name) => {
    console.log(`[test] pnpm ${name}`);
    const t0 = Date.now();
    const ok = pnpm(['run', '--silent', name]) === 0;
    console.log(`[test] pnpm ${name}: ${ok ? 'ok' : 'FAILED'} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    return { name, ok };
  });
  const statsFile = join(mkdtempSync(join(tmpdir(), 'rv-test-')), 'mocha.json');
  const status = run(mocha, args, { env: { ...process.env, RV_MOCHA_STATS: statsFile } });
  let stats;
  try {
    stats = JSON.parse(readFileSync(statsFile, 'utf8'));
  } catch {
    stats = { passes: 0, failures: 1 }; // mocha died before its reporter could say anything
    console.log(`[test] mocha exited with ${status} before reporting`);
  }
  rmSync(dirname(statsFile), { recursive: true, force: true });
  const failedChecks = results.filter((r) => !r.ok).map((r) => r.name);
  if (results.length) console.log(`[test] checks: ${results.map((r) => `${r.name} ${r.ok ? 'ok' : 'FAILED'}`).join(', ')}`);
  const passed = stats.passes + results.length - failedChecks.length;
  const failed = stats.failures + failedChecks.length;
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || status !== 0 ? 1 : 0;
}

if (command === 'test') process.exit(test(rest));
if (command === 'start') process.exit(run(tsx, [join(root, 'scripts', 'start.ts'), ...rest]));
console.error(`[bootstrap] unknown command ${command}`);
process.exit(2);
