// One mocha config for the root run and every package's own `test` script.
const path = require('node:path');
module.exports = {
  import: ['tsx'],
  spec: ['packages/*/src/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'],
  reporter: path.join(__dirname, 'scripts', 'mocha-reporter.cjs'),
  timeout: 60000,
  exit: true,
};
