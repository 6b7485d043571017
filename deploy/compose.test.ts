/**
 * Dockerfile and compose.yaml cannot be run here (no Docker engine), so they are held to the image
 * `pnpm image` makes and to the code: the same runtime config (env, user, port, command, health
 * check, volumes), every workspace package's manifest copied before the install, entry points the
 * build has, variables the config reads with values its schema accepts, and every path a service
 * writes on a volume (the containers run read-only).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { loadConfig, projectRoot } from '@refund-vision/shared';
import { APP_UID, IMAGE_CONFIG, imageRef, NODE } from './image.ts';
import { envReadByCode } from './k8s.ts';

const root = projectRoot();

/** Dockerfile instructions of the last stage (the runtime image), continuation lines joined. */
function dockerfileStages(text: string): { from: string; lines: [string, string][] }[] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  const stages: { from: string; lines: [string, string][] }[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op) continue;
    if (op === 'FROM') stages.push({ from: rest!, lines: [] });
    else stages.at(-1)!.lines.push([op, rest!]);
  }
  return stages;
}

/** compose's `${NAME:?message}` / `${NAME:-default}` / `${NAME}` interpolation, with the given values. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    if (env[name] !== undefined) return env[name]!;
    if (op === '-') return arg;
    throw new Error(`compose needs ${name}: ${arg}`);
  });
}

describe('Dockerfile and compose.yaml', () => {
  const stages = dockerfileStages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const runtime = stages.at(-1)!;
  const get = (op: string) => runtime.lines.filter(([o]) => o === op).map(([, r]) => r);

  it('the Dockerfile makes the image `pnpm image` makes: env, user, port, volumes, command, health check', () => {
    expect(stages).to.have.length(2);
    for (const s of stages)
      expect(s.from, 'Node 20, as in the daemonless image').to.match(new RegExp(`^node:${NODE.version.split('.')[0]}-bookworm`));
    const env = Object.fromEntries(get('ENV').flatMap((r) => r.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
    expect(env).to.deep.equal(IMAGE_CONFIG.env);
    expect(get('USER')).to.deep.equal([`${APP_UID}:${APP_UID}`]);
    expect(get('EXPOSE')).to.deep.equal([String(IMAGE_CONFIG.port)]);
    expect(JSON.parse(get('VOLUME')[0]!)).to.deep.equal(IMAGE_CONFIG.volumes);
    expect(get('WORKDIR')).to.deep.equal(['/app']);
    const cmd = [...JSON.parse(get('ENTRYPOINT')[0]!), ...JSON.parse(get('CMD')[0]!)];
    expect(cmd).to.deep.equal(['node', ...IMAGE_CONFIG.cmd]);
    const hc = /CMD (\[.*\])$/.exec(get('HEALTHCHECK')[0]!)!;
    expect(JSON.parse(hc[1]!)).to.deep.equal(['node', ...IMAGE_CONFIG.healthcheck.slice(1)]);
  });

  it("the Dockerfile's build stage copies every workspace package's manifest before the frozen install", () => {
    const copies = stages[0]!.lines.filter(([o]) => o === 'COPY').map(([, r]) => r.split(/\s+/)[0]);
    const packages = readdirSync(join(root, 'packages')).filter((p) => existsSync(join(root, 'packages', p, 'package.json')));
    for (const p of packages) expect(copies, p).to.include(`packages/${p}/package.json`);
    const install = stages[0]!.lines.findIndex(([o, r]) => o === 'RUN' && r.includes('install --frozen-lockfile'));
    const build = stages[0]!.lines.findIndex(([o, r]) => o === 'RUN' && r.includes('pnpm build'));
    expect(install).to.be.greaterThan(0);
    expect(build).to.be.greaterThan(install);
    expect(readFileSync(join(root, '.dockerignore'), 'utf8')).to.match(/^node_modules$/m);
  });

  describe('compose.yaml', () => {
    const compose = parse(readFileSync(join(root, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, any>;
      volumes: Record<string, unknown>;
    };
    const dotenv = { API_KEY: 'compose-test-key-0123456789', POSTGRES_PASSWORD: 'pw' };
    const ours = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('refund-vision'));
    const envOf = (s: any) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), dotenv)]));
    const configOf = (s: any) => loadConfig({ env: { ...IMAGE_CONFIG.env, ...envOf(s) } });

    it('has the API (3 replicas), PostgreSQL, the migration and the scheduler, all on the image `pnpm image` tags', () => {
      expect(Object.keys(compose.services).sort()).to.deep.equal(['api', 'migrate', 'postgres', 'scheduler']);
      expect(compose.services.api.deploy.replicas).to.equal(3);
      for (const [name, s] of ours) {
        expect(s.image, name).to.equal(imageRef());
        expect(s.build, name).to.equal('.');
      }
      expect(compose.services.postgres.image).to.match(/^postgres:15/);
    });

    it('runs entry points the build has, with variables the config reads and accepts', () => {
      const commands = Object.fromEntries(ours.map(([n, s]) => [n, s.command]));
      expect(commands).to.deep.equal({ migrate: ['bin/migrate.mjs'], api: ['bin/main.mjs'], scheduler: ['bin/schedule.mjs'] });
      for (const [name, s] of ours) {
        for (const k of Object.keys(s.environment ?? {})) expect(envReadByCode(k), `${name}: ${k}`).to.equal(true);
        expect(() => configOf(s), name).not.to.throw();
      }
      // Every store user reaches the compose PostgreSQL with its user, password and database.
      const pg = compose.services.postgres.environment;
      for (const name of ['api', 'migrate']) {
        const url = new URL(configOf(compose.services[name]).api.databaseUrl!);
        expect([url.hostname, url.username, url.password, url.pathname.slice(1)], name).to.deep.equal([
          'postgres',
          pg.POSTGRES_USER,
          interpolate(pg.POSTGRES_PASSWORD, dotenv),
          pg.POSTGRES_DB,
        ]);
      }
      const api = configOf(compose.services.api);
      const sched = configOf(compose.services.scheduler);
      expect(new URL(sched.client.apiUrl).hostname).to.equal('api');
      expect(Number(new URL(sched.client.apiUrl).port)).to.equal(api.api.port);
      expect(compose.services.api.ports[0]).to.match(new RegExp(`:${api.api.port}$`));
      expect(sched.client.cron).to.equal('0 18 * * *');
      // fewer malloc arenas for the client-only scheduler, not for the API (bench/README.md, client RSS)
      expect(compose.services.scheduler.environment.MALLOC_ARENA_MAX).to.equal('2');
      expect(compose.services.api.environment.MALLOC_ARENA_MAX).to.equal(undefined);
    });

    it('keeps every container read-only and every path it writes on a volume; the inbox is a volume', () => {
      for (const [name, s] of ours) {
        expect(s.read_only, name).to.equal(true);
        const mounts = [...(s.volumes ?? []).map((v: string) => v.split(':')[1]!), ...(s.tmpfs ?? [])];
        for (const v of (s.volumes ?? []).map((x: string) => x.split(':')[0]!))
          expect(compose.volumes, `${name} volume ${v}`).to.have.property(v);
        const on = (p: string) => mounts.some((m) => p === m || p.startsWith(`${m}/`));
        const c = configOf(s);
        const writes = [c.logs.dir];
        if (name === 'api') writes.push(c.model.registry);
        if (name === 'scheduler') writes.push(c.client.inbox, c.client.outbox, c.client.results, c.client.stateDir);
        if (!c.api.databaseUrl && name !== 'scheduler') writes.push(dirname(c.api.dbPath));
        for (const w of writes) expect(on(w), `${name} writes ${w}`).to.equal(true);
      }
      const inbox = configOf(compose.services.scheduler).client.inbox;
      expect(compose.services.scheduler.volumes).to.include(`inbox:${inbox}`);
    });
  });
});
