// One mocha config for the root run and every package's own `test` script.
// Mocha appends positional specs to `spec` from config, so the default list applies only when
// none is given on the command line (`mocha packages/api/src/x.test.ts` runs just that file).
const path = require('node:path');
const positional = process.argv.slice(2).some((a) => !a.startsWith('-') && /\.(c|m)?[jt]s$|\/|\*/.test(a));
module.exports = {
  import: ['tsx'],
  ...(positional
    ? {}
    : { spec: ['packages/*/src/**/*.test.ts', 'e2e/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts', 'deploy/**/*.test.ts'] }),
  reporter: path.join(__dirname, 'scripts', 'mocha-reporter.cjs'),
  timeout: 60000,
  // No `exit: true`: a test that leaves a server, socket, timer or worker open keeps the process
  // alive, and the reporter names what leaked and fails the run.
};
