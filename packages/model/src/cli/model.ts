/**
 * pnpm model list | history | add DIR [--note T] | gate VERSION | promote VERSION [--force] [--reason T]
 *            | challenge VERSION | challenge --clear | rollback [--reason T]      (--json on list/history/gate)
 *
 * The model registry from the command line. `promote` runs the evaluation gate against the champion
 * first and refuses a candidate that fails it; `--force` promotes anyway and is recorded as forced.
 * The API processes watching the registry switch to the new champion within one poll.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@refund-vision/shared';
import { loadClassifier, type Classifier } from '../classifier.ts';
import { validationSplitOf } from '../clothing-photos.ts';
import { formatGateReport, gate, type GateReport } from '../gate.ts';
import { fashionMnistTestSet, pairOutcomes, photoValidationSets, readReviewHoldout, reviewHoldoutSet, type EvalSet } from '../gate-sets.ts';
import { ModelRegistry, RegistryError } from '../registry.ts';

const USAGE = `usage: pnpm model list | history | add DIR [--note TEXT] | gate VERSION [--limit N] [--no-photos]
       pnpm model promote VERSION [--force] [--reason TEXT] | challenge VERSION | challenge --clear | rollback [--reason TEXT]
       (--json prints machine-readable output for list, history and gate; RV_USER names who moves)
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    force: { type: 'boolean', default: false },
    clear: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    reason: { type: 'string' },
    note: { type: 'string' },
    limit: { type: 'string' },
    'no-photos': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const fail = (msg: string, code = 2): never => {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
};

const [command, arg] = positionals;
if (values.help || !command) {
  process.stdout.write(USAGE);
  process.exit(values.help ? 0 : 2);
}

const config = loadConfig();
const registry = new ModelRegistry({ root: config.model.registry, bundledDir: config.model.dir });
const out = (x: unknown) => process.stdout.write(typeof x === 'string' ? `${x}\n` : `${JSON.stringify(x, null, 2)}\n`);

/** Gate `version` against the current champion on every set available for it. */
async function runGate(version: string): Promise<GateReport> {
  const champ = registry.resolveAlias('champion');
  if (!champ) fail('no champion to compare with');
  if (champ!.version === version) fail(`${version} is already the champion`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) fail(`--limit: expected a positive integer, got '${values.limit}'`);
  const candDir = registry.dirOf(version);
  const models: Classifier[] = [];
  try {
    const champion = await loadClassifier({ dir: champ!.dir, backend: config.model.backend });
    models.push(champion);
    const candidate = await loadClassifier({ dir: candDir, backend: config.model.backend });
    models.push(candidate);
    const sets: EvalSet[] = [await fashionMnistTestSet(limit)];
    if (values['no-photos']) process.stderr.write('gate: photo validation split left out (--no-photos)\n');
    else {
      try {
        sets.push(
          ...(await photoValidationSets({
            ...(limit ? { limit } : {}),
            splits: [validationSplitOf(champion.card), validationSplitOf(candidate.card)],
          })),
        );
      } catch (e) {
        // No photo dataset here: the gate says so instead of silently judging on fewer sets.
        fail(`gate: the photo validation split is unavailable (${(e as Error).message}); pass --no-photos to gate without it`, 1);
      }
    }
    const holdout = readReviewHoldout(candDir);
    if (holdout?.items.length) sets.push(reviewHoldoutSet(holdout));
    return gate(await pairOutcomes(champion, candidate, sets));
  } finally {
    await Promise.all(models.map((m) => m.dispose()));
  }
}

try {
  switch (command) {
    case 'list': {
      const list = registry.list();
      if (values.json) out(list);
      else
        for (const v of list)
          out(
            `${v.version}  ${(v.aliases.join(',') || '-').padEnd(10)}  added ${v.addedAt} by ${v.addedBy}${v.note ? `  (${v.note})` : ''}`,
          );
      break;
    }
    case 'history': {
      const h = registry.history();
      if (values.json) out(h);
      else
        for (const m of h)
          out(`${m.at}  ${m.alias}: ${m.from ?? '-'} → ${m.to ?? '-'}  ${m.kind}${m.forced ? ' (FORCED)' : ''} by ${m.by}: ${m.reason}`);
      break;
    }
    case 'add': {
      if (!arg) fail(USAGE);
      out(`added ${await registry.add(arg!, { ...(values.note ? { note: values.note } : {}) })}`);
      break;
    }
    case 'gate': {
      if (!arg) fail(USAGE);
      const report = await runGate(arg!);
      out(values.json ? report : formatGateReport(report));
      process.exitCode = report.passed ? 0 : 1;
      break;
    }
    case 'promote': {
      if (!arg) fail(USAGE);
      registry.dirOf(arg!); // unknown version → a clear error before any evaluation
      const report = await runGate(arg!);
      out(formatGateReport(report));
      if (!report.passed && !values.force) fail(`not promoted: the gate failed (promote --force overrides, and is recorded as forced)`, 1);
      const move = await registry.move('champion', arg!, {
        reason: values.reason ?? (report.passed ? `gate passed: ${report.reason}` : `forced past a failed gate: ${report.reason}`),
        kind: 'promote',
        forced: !report.passed,
        gate: report,
      });
      out(`champion: ${move.from ?? '-'} → ${move.to}${move.forced ? ' (forced)' : ''}`);
      break;
    }
    case 'challenge': {
      if (!values.clear && !arg) fail(USAGE);
      const move = await registry.move('challenger', values.clear ? null : arg!, {
        reason: values.reason ?? (values.clear ? 'challenger cleared' : 'shadow on live traffic'),
        kind: values.clear ? 'retire' : 'challenge',
      });
      out(`challenger: ${move.from ?? '-'} → ${move.to ?? '-'}`);
      break;
    }
    case 'rollback': {
      const move = await registry.rollback({ ...(values.reason ? { reason: values.reason } : {}) });
      out(`champion rolled back: ${move.from} → ${move.to}`);
      break;
    }
    default:
      fail(`unknown command '${command}'\n${USAGE}`);
  }
} catch (e) {
  if (e instanceof RegistryError) fail(e.message, 1);
  throw e;
}
