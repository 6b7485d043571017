/**
 * `pnpm metrics [--since 30d] [--run KEY] [--format table|csv|json] [--db path]` — the metrics
 * history straight from the store (the SQLite file, or Postgres when DATABASE_URL is set), no API
 * needed. It opens the store read-only and never migrates it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AppError, loadConfig, ModelCard } from '@refund-vision/shared';
import { openStore, StoreError, type Store } from '../store/index.ts';
import { runsCsv, toCsv } from '../history/csv.ts';
import { allRuns, summarize } from '../history/aggregate.ts';
import { parseSince } from '../history/range.ts';
import { runDetail, runsTable, summaryLines } from './format.ts';

const USAGE = `usage: pnpm metrics [--since 30d] [--run KEY] [--format table|csv|json] [--db path]
  --since   how far back: 90m, 12h, 30d, 8w or an ISO date (default 30d)
  --run     one run (key or id): its health checks and per-class breakdown
  --format  table (default), csv or json
  --db      the SQLite metrics database (default: DATABASE_URL when set, else api.dbPath, data/refund-vision.db)`;

/** The model card in `dir`, or undefined: the CLI works without a model, only without baselines. */
function readCardIfAny(dir: string): ModelCard | undefined {
  try {
    const parsed = ModelCard.safeParse(JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export interface MetricsCliResult {
  code: number;
  out: string;
  err: string;
}

export async function metricsCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<MetricsCliResult> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        since: { type: 'string', default: '30d' },
        run: { type: 'string' },
        format: { type: 'string', default: 'table' },
        db: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    return { code: 1, out: '', err: `${(e as Error).message}\n${USAGE}\n` };
  }
  if (args.help) return { code: 0, out: `${USAGE}\n`, err: '' };
  const format = args.format!;
  if (!['table', 'csv', 'json'].includes(format))
    return { code: 1, out: '', err: `--format: expected table, csv or json, got '${format}'\n` };

  const config = loadConfig({ env });
  const url = args.db === undefined ? config.api.databaseUrl : undefined;
  const dbPath = args.db ?? config.api.dbPath;
  let store: Store;
  try {
    store = await openStore({ url, path: dbPath, readOnly: true });
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    if (e.code === 'store-missing')
      return { code: 2, out: '', err: `no metrics database at ${dbPath}: start the API (pnpm api) and send a run, or pass --db\n` };
    return { code: 2, out: '', err: `${e.message}\n` };
  }
  const where = store.location;
  try {
    if (args.run !== undefined) {
      const run = await store.runs.getRun(args.run);
      if (!run) return { code: 1, out: '', err: `no run '${args.run}' in ${where}\n` };
      if (format === 'json') return { code: 0, out: `${JSON.stringify(run, null, 2)}\n`, err: '' };
      if (format === 'csv') {
        const rows = run.perClass.map((c) => [
          run.runKey,
          c.classIndex,
          c.className,
          c.count,
          run.images ? c.count / run.images : null,
          c.meanConfidence,
        ]);
        return { code: 0, out: toCsv(['run_key', 'class_index', 'class_name', 'count', 'share', 'mean_confidence'], rows), err: '' };
      }
      const card = readCardIfAny(config.model.dir);
      const baseline = card && card.version === run.modelVersion ? card.monitoring.perClassMeanConfidence : undefined;
      return { code: 0, out: `${runDetail(run, baseline)}\n`, err: '' };
    }
    const range = { from: parseSince(args.since!) };
    const runs = await allRuns(store, range);
    if (format === 'csv') return { code: 0, out: runsCsv(runs), err: '' };
    const summary = await summarize(store, range);
    if (format === 'json') return { code: 0, out: `${JSON.stringify({ summary, runs }, null, 2)}\n`, err: '' };
    return {
      code: 0,
      out: `Runs since ${range.from.slice(0, 16).replace('T', ' ')} UTC (${where})\n\n${runsTable(runs)}\n\n${summaryLines(summary)}\n`,
      err: '',
    };
  } catch (e) {
    if (e instanceof AppError) return { code: 1, out: '', err: `${e.message}\n` };
    throw e;
  } finally {
    await store.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await metricsCli(process.argv.slice(2));
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  process.exitCode = r.code;
}
