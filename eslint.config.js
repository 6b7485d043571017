// ESLint flat config: typescript-eslint's recommended rules, syntax only. Type-aware rules are left
// out on purpose: they type-check the whole workspace again and take minutes on this machine, and
// `pnpm typecheck` already does that once.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'bench/out/**', 'data/**', 'logs/**', 'models/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // JSON bodies in tests and a few untyped third-party shapes are typed `any` deliberately.
      '@typescript-eslint/no-explicit-any': 'off',
      // `if (x) (a.push(…), b.push(…));` is a deliberate idiom here, and chai's property
      // assertions (`expect(x).to.exist`) are expressions by design.
      '@typescript-eslint/no-unused-expressions': 'off',
      // Express recognises an error handler by its four parameters: `_next` must stay.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Input sanitisers match control characters on purpose.
      'no-control-regex': 'off',
      // Expected event lines are written as a person reads them: levels are padded to five characters.
      'no-regex-spaces': 'off',
      // `catch {}` means "best effort, nothing to do" (cleanup of temp files, optional probes).
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `let x; … callback uses x …; x = start()`: a callback defined before the value exists.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard's page script runs in the browser.
    files: ['packages/api/src/dashboard/public/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
