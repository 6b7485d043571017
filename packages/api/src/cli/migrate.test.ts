import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgresUrl } from '../testing/postgres.ts';
import { MIGRATION_NAMES } from '../store/migrations/index.ts';
import { openStore } from '../store/index.ts';
import { migrateCli } from './migrate.ts';

describe('pnpm migrate', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rv-migrate-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a new SQLite store once, then finds it current', async () => {
    const path = join(dir, 'data', 'rv.db');
    const first = await migrateCli([], { DB_PATH: path });
    expect(first, first.err).to.deep.include({ code: 0, err: '' });
    expect(first.out).to.equal(`${path} (sqlite): applied ${MIGRATION_NAMES.join(', ')}; schema ${MIGRATION_NAMES.at(-1)}\n`);
    const again = await migrateCli([], { DB_PATH: path });
    expect(again.out).to.include('already current');
    // a reader can now open it (readers never migrate)
    await (await openStore({ path, readOnly: true })).close();
  });

  it('migrates the Postgres store DATABASE_URL names, without printing its password', async () => {
    const url = (await freshPostgresUrl()).replace('postgres@', 'postgres:not-a-secret@');
    const r = await migrateCli([], { DATABASE_URL: url, DB_PATH: join(dir, 'unused.db') });
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.match(/\(postgres\): applied 0001-initial/);
    expect(r.out).to.not.include('not-a-secret');
    await (await openStore({ url, readOnly: true })).close();
  });

  it('refuses a damaged store with exit 2, naming it', async () => {
    const path = join(dir, 'rv.db');
    writeFileSync(path, '');
    const r = await migrateCli([], { DB_PATH: path });
    expect(r.code).to.equal(2);
    expect(r.err).to.include(path);
    expect((await migrateCli(['--now'], { DB_PATH: path })).code).to.equal(1);
  });
});
