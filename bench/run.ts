/**
 * `pnpm bench [--quick] [--only 1,3] [--no-install]`: refund-vision against the Python stack on this
 * machine, in one run — issue 6's eight items — printed as one table and written to bench/out/
 * (results.json, results.md, and a timestamped copy of each).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from './lib/args.ts';
import { makeDataLoader, MODEL_DIR, type Ctx } from './lib/context.ts';
import { listImages, samplesDir } from './lib/images.ts';
import { cpuInfo } from './lib/peak.ts';
import { ROOT } from './lib/proc.ts';
import { ensurePeers } from './lib/python.ts';
import { formatMarkdown, formatTable, evaluate, type Row } from './lib/table.ts';
import { measureClientMemory, measureEndToEnd } from './rows/e2e.ts';
import { measureHardening } from './rows/hardening.ts';
import { measureHotSwap } from './rows/hot-swap.ts';
import { measureInference } from './rows/inference.ts';
import { measurePreprocess } from './rows/preprocess.ts';
import { measureReplicas } from './rows/replicas.ts';
import { measureApiMemory, measureColdStart, measureServing } from './rows/serving.ts';
import { measureTraining } from './rows/training.ts';
import { measureWire } from './rows/wire.ts';

const args = parseArgs(process.argv.slice(2));
const quick = args.has('quick');
const only = args.get('only')?.split(',').map(Number);
const wants = (item: number) => !only || only.includes(item);
const started = Date.now();
const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

function machine() {
  const { model, mhz } = cpuInfo();
  let lscpuModel = model;
  try {
    lscpuModel = /Model name:\s*(.*)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? model;
  } catch {
    /* lscpu missing: /proc/cpuinfo's name is the same */
  }
  return {
    cpu: lscpuModel,
    cores: cpus().length,
    mhz,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavgAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'rv-bench-'));
const rows: Row[] = [];
const info = machine();
log(`${quick ? 'quick' : 'full'} run on ${info.cpu}, ${info.cores} cores, load average ${info.loadavgAtStart.join(' ')}; temp ${tmp}`);
try {
  const peers = await ensurePeers(log, !args.has('no-install'));
  for (const [p, v] of Object.entries(peers.versions))
    log(`peer ${p}: ${v ?? `unavailable (${peers.problems[p as keyof typeof peers.problems]})`}`);
  const sd = samplesDir();
  const ctx: Ctx = {
    quick,
    tmp,
    modelDir: MODEL_DIR,
    log,
    peers,
    samples: sd ? listImages(sd) : [],
    data: makeDataLoader(tmp, quick ? 2000 : 6000),
    cpu: String(Math.max(0, info.cores - 1)),
  };
  let clientPeakRss: number | undefined;
  const steps: [number, string, () => Promise<Row[]>][] = [
    [1, 'inference', () => measureInference(ctx)],
    [2, 'preprocessing', () => measurePreprocess(ctx)],
    [3, 'bytes on the wire', () => measureWire(ctx)],
    [4, 'API cold start', () => measureColdStart(ctx)],
    [
      5,
      'end to end',
      async () => {
        const r = await measureEndToEnd(ctx);
        clientPeakRss = r.clientPeakRss;
        return r.rows;
      },
    ],
    [6, 'serving under load', () => measureServing(ctx)],
    [7, 'memory', async () => [...(await measureApiMemory(ctx)), ...(await measureClientMemory(ctx, clientPeakRss))]],
    [8, 'training', () => measureTraining(ctx)],
    [10, 'model hot swap', () => measureHotSwap(ctx)],
    [11, 'several replicas', () => measureReplicas(ctx)],
    [12, 'hostile load (bomb forms, batch-256 burst)', () => measureHardening(ctx)],
  ];
  const stepSeconds: Record<string, number> = {};
  for (const [item, name, fn] of steps) {
    if (!wants(item)) continue;
    log(`${item}. ${name}`);
    const t0 = Date.now();
    try {
      rows.push(...(await fn()));
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0] ?? String(e);
      log(`${item}. ${name} failed: ${msg}`);
      rows.push({ item, metric: name, unit: '', ours: null, peer: null, note: `bench step failed: ${msg}` });
    }
    stepSeconds[`${item}. ${name}`] = (Date.now() - t0) / 1000;
  }
  const peerLine = Object.entries(peers.versions)
    .map(([p, v]) => `${p} ${v ?? 'unavailable'}`)
    .join(', ');
  const busy = Math.max(info.loadavgAtStart[0]!, loadavg()[0]!) > info.cores;
  const header = `refund-vision bench (${quick ? 'quick' : 'full'}), ${new Date(started).toISOString()}, ${info.cpu}, ${info.cores} cores, Node ${info.node}, peers: ${peerLine}; load average at start ${info.loadavgAtStart.join(' ')}, at end ${loadavg()
    .map((x) => x.toFixed(2))
    .join(
      ' ',
    )}; ${((Date.now() - started) / 1000).toFixed(0)} s${busy ? '\nWARNING: the load average exceeded the core count: other processes shared the CPUs, so times are inflated and ratios noisy.' : ''}`;
  const table = formatTable(rows);
  process.stdout.write(`\n${header}\n\n${table}\n`);
  const out = join(ROOT, 'bench', 'out');
  mkdirSync(out, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify(
    {
      mode: quick ? 'quick' : 'full',
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      machine: info,
      peers,
      stepSeconds,
      loadavgAtEnd: loadavg(),
      rows: rows.map(evaluate),
    },
    null,
    2,
  );
  const md = `${header}\n\n${formatMarkdown(rows)}\n`;
  for (const name of ['results', `${stamp}-${quick ? 'quick' : 'full'}`]) {
    writeFileSync(join(out, `${name}.json`), json);
    writeFileSync(join(out, `${name}.md`), md);
  }
  log(`written to bench/out/results.{json,md}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
