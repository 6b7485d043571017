/**
 * The Kubernetes manifests, validated offline: both overlays render with kustomize, every object
 * passes kubernetes-models' validate() and a type check that rejects unknown fields, and everything
 * they name is checked against the code — the image tag `pnpm image` makes, the build's entry points,
 * the config's environment variables (values parsed by the real config schema), the API's port and
 * probe routes (requested from a real server), and the paths the processes write (all on volumes,
 * since the root filesystem is read-only).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startServer, type ServerHandle } from '@refund-vision/api';
import { loadConfig, type Config } from '@refund-vision/shared';
import { ENTRY_POINTS } from './build.ts';
import { APP_DIR, APP_UID, IMAGE_CONFIG, imageRef } from './image.ts';
import {
  checkUnknownFields,
  envReadByCode,
  kustomizeAvailable,
  podSpecs,
  renderKustomize,
  validateWithModels,
  type K8sObject,
} from './k8s.ts';

const K8S = join(dirname(fileURLToPath(import.meta.url)), 'k8s');
const REGISTRY = 'registry.example.com/shop/';

describe('Kubernetes manifests (deploy/k8s)', function () {
  this.timeout(120_000);
  const overlays: Record<'dev' | 'production', K8sObject[]> = { dev: [], production: [] };
  let tmp: string;

  before(function () {
    if (!kustomizeAvailable()) {
      const why = 'kubectl (which carries kustomize) is not installed';
      if (process.env.CI === 'true') throw new Error(`the manifests cannot be rendered in CI: ${why}`);
      process.stdout.write(`      skipped: ${why}\n`);
      return this.skip();
    }
    // production reads secrets.env, which is never committed: render a copy with the example file.
    tmp = mkdtempSync(join(tmpdir(), 'rv-k8s-'));
    cpSync(K8S, join(tmp, 'k8s'), { recursive: true });
    const prod = join(tmp, 'k8s', 'overlays', 'production');
    cpSync(join(prod, 'secrets.env.example'), join(prod, 'secrets.env'));
    overlays.dev = renderKustomize(join(tmp, 'k8s', 'overlays', 'dev'));
    overlays.production = renderKustomize(prod);
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  const all = () => [...overlays.dev, ...overlays.production];
  const each = (fn: (name: string, objects: K8sObject[]) => void) => {
    for (const [name, objects] of Object.entries(overlays)) fn(name, objects);
  };
  const one = (objects: K8sObject[], kind: string, name?: string) => {
    const found = objects.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
    expect(found, `${kind} ${name ?? ''}`).to.have.length(1);
    return found[0]!;
  };

  it('render to every object the issue names, and pass kubernetes-models validate()', async () => {
    each((name, objects) => {
      const kinds = objects.map((o) => o.kind).sort();
      expect(kinds, name).to.deep.equal(
        [
          'CronJob',
          'Deployment',
          'HorizontalPodAutoscaler',
          'Job',
          'Namespace',
          'PersistentVolumeClaim',
          'PodDisruptionBudget',
          'Secret',
          'Service',
        ].sort(),
      );
      for (const o of objects.filter((x) => x.kind !== 'Namespace'))
        expect(o.metadata.namespace, `${name} ${o.kind}`).to.equal(`refund-vision${name === 'dev' ? '-dev' : ''}`);
    });
    expect(await validateWithModels(all())).to.deep.equal([]);
  });

  it('have no unknown fields and no wrong types (TypeScript check against the kubernetes-models interfaces)', () => {
    expect(checkUnknownFields(all())).to.deep.equal([]);
  });

  it('those checks catch a misspelt field, a wrong type and a missing required field', async () => {
    const bad = structuredClone(overlays.dev);
    const dep = one(bad, 'Deployment');
    dep.spec.template.spec.containers[0].readinesProbe = dep.spec.template.spec.containers[0].readinessProbe;
    const job = one(bad, 'Job');
    job.spec.backoffLimit = 'four';
    const cron = one(bad, 'CronJob');
    delete cron.spec.schedule;
    const fields = checkUnknownFields([dep, job, cron]);
    expect(fields.join('\n')).to.match(/Deployment\/refund-vision-api: .*'"readinesProbe"' does not exist/);
    expect(fields.join('\n')).to.match(/Job\/refund-vision-migrate: Type 'string' is not assignable to type 'number'/);
    expect(fields.join('\n')).to.match(/CronJob\/refund-vision-client: .*schedule/);
    const models = await validateWithModels([job, cron]);
    expect(models.join('\n')).to.match(/backoffLimit must be integer/);
    expect(models.join('\n')).to.match(/CronJob\/refund-vision-client: .*must have required property '?schedule/);
  });

  it('run the image `pnpm image` tags, with entry points the build has', () => {
    each((name, objects) => {
      for (const { owner, spec } of podSpecs(objects)) {
        for (const c of spec.containers) {
          expect(c.image, `${name} ${owner.kind}`).to.equal(name === 'production' ? `${REGISTRY}${imageRef()}` : imageRef());
          // The image's entrypoint is node; the manifests pass the script only.
          expect(c.command, `${owner.kind} keeps the image's entrypoint`).to.equal(undefined);
          const m = /^bin\/([\w-]+)\.mjs$/.exec(c.args?.[0] ?? IMAGE_CONFIG.cmd[0]!);
          expect(m && m[1]! in ENTRY_POINTS, `${owner.kind} runs ${c.args?.[0]}`).to.equal(true);
        }
      }
    });
    const args = (objects: K8sObject[], kind: string) => podSpecs(objects).find((p) => p.owner.kind === kind)!.spec.containers[0].args;
    expect(args(overlays.production, 'Deployment')).to.deep.equal(['bin/main.mjs']);
    expect(args(overlays.production, 'Job')).to.deep.equal(['bin/migrate.mjs']);
    expect(args(overlays.production, 'CronJob')).to.deep.equal(['bin/batch.mjs']);
  });

  /** The config each container would load: the image's environment, then the manifest's (secrets resolved). */
  function containerConfig(objects: K8sObject[], c: any): { config: Config; env: Record<string, string> } {
    const env: Record<string, string> = { ...IMAGE_CONFIG.env };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = String(e.value);
      else if (e.valueFrom?.secretKeyRef) {
        const { name, key } = e.valueFrom.secretKeyRef;
        const secret = one(objects, 'Secret', name);
        const value =
          secret.stringData?.[key] ?? (secret.data?.[key] !== undefined ? Buffer.from(secret.data[key], 'base64').toString() : undefined);
        expect(value, `Secret ${name} has ${key}`).to.be.a('string');
        env[e.name] = value!;
      } else throw new Error(`env ${e.name}: only value and secretKeyRef are used`);
    }
    return { config: loadConfig({ env }), env };
  }

  it('set only variables the code reads, with values the config schema accepts', () => {
    each((name, objects) => {
      for (const { owner, spec } of podSpecs(objects)) {
        for (const c of spec.containers) {
          for (const e of c.env ?? []) expect(envReadByCode(e.name), `${name} ${owner.kind}: ${e.name} is read by the code`).to.equal(true);
          const { config } = containerConfig(objects, c);
          expect(config.root).to.equal(APP_DIR);
          if (owner.kind !== 'CronJob') expect(config.api.databaseUrl, `${owner.kind} uses the shared PostgreSQL`).to.match(/^postgres/);
        }
      }
      const secret = one(objects, 'Secret', 'refund-vision-secrets');
      expect(Object.keys(secret.stringData ?? secret.data).sort()).to.deep.equal(['API_KEY', 'DATABASE_URL']);
    });
  });

  describe('against a real API', () => {
    let api: ServerHandle;
    let dir: string;
    before(async function () {
      if (!overlays.dev.length) return this.skip();
      dir = mkdtempSync(join(tmpdir(), 'rv-k8s-api-'));
      api = await startServer({
        config: loadConfig({
          env: {},
          overrides: { api: { port: 0, dbPath: join(dir, 'db.sqlite') }, logs: { dir: join(dir, 'logs'), console: false } },
        }),
      });
    });
    after(async () => {
      await api?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the probe paths answer 200 on the port the container declares; liveness and readiness are distinct', async () => {
      each((name, objects) => {
        const dep = one(objects, 'Deployment', 'refund-vision-api');
        const c = dep.spec.template.spec.containers[0];
        const port = c.ports.find((p: any) => p.name === 'http');
        const { config } = containerConfig(objects, c);
        expect(port.containerPort, name).to.equal(config.api.port);
        expect(port.containerPort).to.equal(IMAGE_CONFIG.port);
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) expect(c[probe].httpGet.port, probe).to.equal('http');
        expect(c.livenessProbe.httpGet.path).to.equal('/v2/health/live');
        expect(c.readinessProbe.httpGet.path).to.equal('/v2/health/ready');
      });
      const c = one(overlays.production, 'Deployment').spec.template.spec.containers[0];
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const res = await fetch(`${api.url}${c[probe].httpGet.path}`);
        expect(res.status, `${probe} ${c[probe].httpGet.path}`).to.equal(200);
      }
      // …and a path the API does not serve would not: the check above can fail.
      expect((await fetch(`${api.url}/v2/health/alive`)).status).to.equal(404);
    });

    it('the Service reaches the container port, and the client CronJob calls the Service', () => {
      each((name, objects) => {
        const svc = one(objects, 'Service', 'refund-vision-api');
        const dep = one(objects, 'Deployment', 'refund-vision-api');
        expect(svc.spec.selector).to.deep.equal(dep.spec.selector.matchLabels);
        expect(dep.spec.template.metadata.labels).to.include(dep.spec.selector.matchLabels);
        const ports = dep.spec.template.spec.containers[0].ports.map((p: any) => p.name);
        expect(ports).to.include(svc.spec.ports[0].targetPort);
        const cron = one(objects, 'CronJob');
        const { config } = containerConfig(objects, cron.spec.jobTemplate.spec.template.spec.containers[0]);
        const url = new URL(config.client.apiUrl);
        expect(url.hostname, name).to.equal(svc.metadata.name);
        expect(Number(url.port || 80)).to.equal(svc.spec.ports[0].port);
      });
    });
  });

  it('Deployment, HPA, PDB, Job and CronJob as the issue asks', () => {
    const p = overlays.production;
    const dep = one(p, 'Deployment', 'refund-vision-api');
    expect(dep.spec.replicas).to.equal(3);
    const c = dep.spec.template.spec.containers[0];
    expect(c.resources.requests.cpu, 'the HPA needs a CPU request').to.be.a('string');
    const hpa = one(p, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name });
    expect(hpa.spec.minReplicas).to.equal(3);
    expect(hpa.spec.metrics[0].resource.name).to.equal('cpu');
    const pdb = one(p, 'PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).to.deep.equal(dep.spec.selector.matchLabels);
    const cron = one(p, 'CronJob');
    expect(cron.spec.concurrencyPolicy).to.equal('Forbid');
    expect(cron.spec.startingDeadlineSeconds).to.be.a('number').greaterThan(0);
    expect(cron.spec.schedule).to.equal('0 18 * * *');
    expect(() => new Intl.DateTimeFormat('en', { timeZone: cron.spec.timeZone })).not.to.throw();
    // fewer malloc arenas for the client only (measured: less RSS, same speed; the API lost throughput)
    const arenas = (x: any) => x.env?.find((e: any) => e.name === 'MALLOC_ARENA_MAX')?.value;
    expect(arenas(cron.spec.jobTemplate.spec.template.spec.containers[0])).to.equal('2');
    expect(arenas(c)).to.equal(undefined);
    const pvc = one(p, 'PersistentVolumeClaim');
    for (const { owner, spec } of podSpecs(p).filter((x) => x.owner.kind !== 'Job')) {
      expect(
        spec.volumes.map((v: any) => v.persistentVolumeClaim?.claimName),
        owner.kind,
      ).to.include(pvc.metadata.name);
    }
    expect(one(overlays.dev, 'Deployment').spec.replicas).to.equal(1);
  });

  it('run as the image user, non-root, read-only root filesystem; every path they write is a mounted volume', () => {
    each((name, objects) => {
      for (const { owner, spec } of podSpecs(objects)) {
        expect(spec.securityContext.runAsNonRoot, owner.kind).to.equal(true);
        expect(spec.securityContext.runAsUser).to.equal(APP_UID);
        for (const c of spec.containers) {
          expect(c.securityContext.readOnlyRootFilesystem, `${name} ${owner.kind}`).to.equal(true);
          expect(c.securityContext.allowPrivilegeEscalation).to.equal(false);
          expect(c.securityContext.capabilities.drop).to.deep.equal(['ALL']);
          const volumes = new Set(spec.volumes.map((v: any) => v.name));
          for (const m of c.volumeMounts) expect(volumes.has(m.name), `${owner.kind} mounts ${m.name}`).to.equal(true);
          const mounted = (path: string) =>
            c.volumeMounts.some((m: any) => !m.readOnly && (path === m.mountPath || path.startsWith(`${m.mountPath}/`)));
          const { config } = containerConfig(objects, c);
          const writes = [config.logs.dir, '/tmp'];
          if (owner.kind === 'Deployment') writes.push(config.model.registry);
          if (!config.api.databaseUrl) writes.push(dirname(config.api.dbPath));
          if (owner.kind === 'CronJob')
            writes.push(config.client.inbox, config.client.outbox, config.client.results, config.client.stateDir);
          for (const w of writes) expect(mounted(w), `${name} ${owner.kind} writes ${w}`).to.equal(true);
        }
      }
    });
  });
});
