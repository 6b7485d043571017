/**
 * Offline checks of the Kubernetes manifests (deploy/k8s): render an overlay with kustomize, validate
 * every object with the `kubernetes-models` package (types, required fields, formats), and — since
 * those validators accept fields Kubernetes does not know — type-check every object against the same
 * package's TypeScript interfaces, where an object literal with an unknown field is an error
 * (`readinesProbe:` fails instead of being silently ignored by the cluster).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ENV_KEYS } from '@refund-vision/shared';

/**
 * Variables the process reads besides the config's ENV_KEYS (see packages/shared/src/config.ts);
 * MALLOC_ARENA_MAX is glibc's (the client's processes set it: bench/README.md, client RSS).
 */
const OTHER_ENV = new Set(['RV_ROOT', 'RV_CONFIG', 'NODE_ENV', 'MALLOC_ARENA_MAX']);

/** Is `name` an environment variable our processes read? (The config's keys, the root and config file.) */
export function envReadByCode(name: string): boolean {
  return name in ENV_KEYS || OTHER_ENV.has(name);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

/** `kubectl kustomize DIR` (kustomize is built into kubectl) → the objects, in order. */
export function renderKustomize(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  if (r.error) throw new Error(`kubectl kustomize: ${r.error.message} (install kubectl; it carries kustomize)`);
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseYamlObjects(r.stdout);
}

export function parseYamlObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`YAML: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => !!o)
    .map(joinSecretLines);
}

/**
 * kustomize folds a long base64 Secret value over several lines; the API server's base64 decoder
 * skips line breaks, kubernetes-models' `byte` format does not — so they are joined before checking.
 */
function joinSecretLines(o: K8sObject): K8sObject {
  if (o.kind !== 'Secret' || !o.data) return o;
  return { ...o, data: Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')])) };
}

export function kustomizeAvailable(): boolean {
  return spawnSync('kubectl', ['kustomize', '--help'], { encoding: 'utf8' }).status === 0;
}

/** kubernetes-models module of an object: `kubernetes-models/<group/version>/<Kind>` (core group: `v1`). */
function modelModule(o: K8sObject): string {
  return `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

/** Every object through its kubernetes-models class's validate(); returns one message per invalid object. */
export async function validateWithModels(objects: K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const o of objects) {
    let mod: Record<string, new (data: unknown) => { validate(): void }>;
    try {
      mod = (await import(modelModule(o))) as typeof mod;
    } catch {
      problems.push(`${o.kind}/${o.metadata?.name}: no model for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new mod[o.kind]!(o).validate();
    } catch (e) {
      problems.push(`${o.kind}/${o.metadata?.name}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/**
 * Unknown fields and wrong types, by the TypeScript compiler: each object becomes
 * `const o: I<Kind> = <its JSON>;` in a virtual file beside this one, checked against
 * kubernetes-models' interfaces. Returns one message per diagnostic, naming the object.
 */
export function checkUnknownFields(objects: K8sObject[]): string[] {
  const file = join(dirname(fileURLToPath(import.meta.url)), '__k8s_check__.ts');
  const lines: string[] = [];
  const owner: { line: number; name: string }[] = [];
  objects.forEach((o, i) => {
    lines.push(`import type { I${o.kind} as T${i} } from '${modelModule(o)}';`);
  });
  let lineNo = lines.length;
  objects.forEach((o, i) => {
    owner.push({ line: lineNo, name: `${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.kind}/${o.metadata?.name}` });
    const text = `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`;
    lines.push(text);
    lineNo += text.split('\n').length;
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang, true) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sf).map((d) => {
    const line = d.start !== undefined ? sf.getLineAndCharacterOfPosition(d.start).line : 0;
    const who = [...owner].reverse().find((o) => o.line <= line)?.name ?? 'imports';
    return `${who}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n').slice(-1)[0]}`;
  });
}

/** All containers of a workload's pod template (Deployment, Job, CronJob), with the object's name. */
export function podSpecs(objects: K8sObject[]): { owner: K8sObject; spec: any }[] {
  const out: { owner: K8sObject; spec: any }[] = [];
  for (const o of objects) {
    if (o.kind === 'Deployment' || o.kind === 'Job') out.push({ owner: o, spec: o.spec.template.spec });
    if (o.kind === 'CronJob') out.push({ owner: o, spec: o.spec.jobTemplate.spec.template.spec });
  }
  return out;
}
