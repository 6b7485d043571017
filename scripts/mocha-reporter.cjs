// Mocha's spec output, then one plain line `N passed, N failed` that CI can read.
//
// Two rules on top of mocha's own, so that CI cannot pass while something never ran:
// - Under CI=true a skipped test counts as failed (in CI a missing tool or dataset is a failure):
//   it is listed by name and added to the failures, which also makes mocha's exit code non-zero.
// - Mocha runs without `exit: true`: a test process that does not end by itself once the tests are
//   done has leaked a handle (a server, a socket, a timer, a worker). LEAK_GRACE_MS after the end,
//   the live handles are listed and the process exits with a failure instead of hanging.
// RV_MOCHA_STATS=<file> also writes the final counts as JSON (scripts/bootstrap.mjs adds its checks).
const { writeFileSync } = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PENDING } = Mocha.Runner.constants;

const LEAK_GRACE_MS = Number(process.env.RV_LEAK_GRACE_MS ?? 10_000);

const inCi = () => /^(1|true)$/i.test(process.env.CI ?? '');

function writeStats(stats) {
  if (process.env.RV_MOCHA_STATS) writeFileSync(process.env.RV_MOCHA_STATS, JSON.stringify(stats));
}

/** What keeps the event loop alive, one line each (handles with an address or a path say which). */
function liveHandles() {
  const lines = [];
  for (const h of process._getActiveHandles()) {
    if (h === process.stdout || h === process.stderr || h === process.stdin) continue;
    const name = h?.constructor?.name ?? typeof h;
    let where = '';
    try {
      if (typeof h.address === 'function' && h.address()) where = JSON.stringify(h.address());
      else if (h.remoteAddress) where = `${h.remoteAddress}:${h.remotePort}`;
      else if (h.pid) where = `pid ${h.pid} ${(h.spawnargs ?? []).join(' ').slice(0, 160)}`;
      else if (typeof h.threadId === 'number') where = `thread ${h.threadId}`;
    } catch {
      // a closed handle has no address any more: its name is all there is
    }
    lines.push(`${name} ${where}`.trim());
  }
  const resources = process.getActiveResourcesInfo?.().filter((r) => r !== 'TTYWrap') ?? [];
  return { lines, resources };
}

class SpecWithCount extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const skipped = [];
    runner.on(EVENT_TEST_PENDING, (test) => skipped.push(test.fullTitle()));
    // Registered after Spec's own epilogue listener (so this line comes last) and before the
    // listener mocha's run() adds, which reads runner.failures for the exit code.
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, pending = 0 } = runner.stats ?? {};
      let failures = runner.stats?.failures ?? 0;
      if (inCi() && skipped.length) {
        process.stdout.write(`\nCI=true: ${skipped.length} skipped test(s) count as failed:\n`);
        for (const t of skipped) process.stdout.write(`  ✗ ${t}\n`);
        failures += skipped.length;
        runner.failures += skipped.length;
      }
      const skippedNote = !inCi() && pending ? `, ${pending} skipped` : '';
      process.stdout.write(`${passes} passed, ${failures} failed${skippedNote}\n`);
      const stats = { passes, failures, pending, leaked: false };
      writeStats(stats);
      const timer = setTimeout(() => {
        const { lines, resources } = liveHandles();
        process.stdout.write(
          `\nThe test process is still alive ${LEAK_GRACE_MS} ms after the last test: leaked handles\n` +
            lines.map((l) => `  ${l}\n`).join('') +
            `  active resources: ${resources.join(', ') || '(none reported)'}\n` +
            `${passes} passed, ${failures + 1} failed\n`,
        );
        writeStats({ ...stats, failures: failures + 1, leaked: true });
        process.exit(1);
      }, LEAK_GRACE_MS);
      timer.unref();
    });
  }
}
module.exports = SpecWithCount;
