/**
 * Kysely's runtime, loaded from its CommonJS build. Under tsx (`pnpm api`, `npm start`) every ES module
 * a package imports goes through tsx's resolve hook, and Kysely's ESM build is 280 modules: importing
 * it took ~700 ms of the API's ~1.6 s cold start, its CommonJS build ~120 ms (2-core machine,
 * 2026-11-29; `pnpm bench --only 4`). Every runtime use of Kysely goes through this module, so there is
 * one copy of its classes; `import type … from 'kysely'` stays as it is (types cost nothing at run time).
 */
import { createRequire } from 'node:module';
import type * as K from 'kysely';

const kysely = createRequire(import.meta.url)('kysely') as typeof K;

export const { CompiledQuery, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, sql } = kysely;
export const Kysely = kysely.Kysely;
export type Kysely<DB> = K.Kysely<DB>;
