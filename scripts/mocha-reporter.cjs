// Mocha's spec output, then one plain line `N passed, N failed` that CI can read.
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SpecWithCount extends Spec {
  constructor(runner, options) {
    super(runner, options);
    // Registered after Spec's own epilogue listener, so this line comes last.
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = runner.stats ?? {};
      process.stdout.write(`${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ''}\n`);
    });
  }
}
module.exports = SpecWithCount;
