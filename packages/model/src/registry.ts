/**
 * The model registry: every trained model is a version (the content hash of its weights) kept side by
 * side under `<root>/versions/<version>/` with its card and ONNX export, and `registry.json` records
 * which version each alias points at — `champion` (served) and `challenger` (shadowed) — and who moved
 * it, when and why. A file, not a table: the API replicas watch it, the CLI edits it, and it lives
 * beside the model files it names (a volume shared by the replicas in a cluster).
 *
 * The bundled model (models/fashion-cnn, committed) is the champion until anyone promotes another.
 * Writes go through a lock directory and a temp-file rename, so two CLIs never lose each other's move
 * and a watcher never reads half a file.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { readCard, ONNX_FILE } from './classifier.ts';
import { MODEL_JSON, readArtifacts, weightFiles, weightsVersion } from './model-files.ts';
import type { GateReport } from './gate.ts';
import { REVIEW_HOLDOUT_FILE } from './gate-sets.ts';

export const REGISTRY_FILE = 'registry.json';
export const ALIASES = ['champion', 'challenger'] as const;
export type Alias = (typeof ALIASES)[number];

const VersionEntry = z.object({
  /** Folder holding the model, relative to the registry root (or absolute for the bundled model). */
  path: z.string(),
  addedAt: z.string(),
  addedBy: z.string(),
  note: z.string().optional(),
});

const Move = z.object({
  at: z.string(),
  alias: z.enum(ALIASES),
  from: z.string().nullable(),
  to: z.string().nullable(),
  by: z.string(),
  reason: z.string(),
  kind: z.enum(['promote', 'rollback', 'challenge', 'retire']),
  forced: z.boolean().default(false),
  gate: z.unknown().optional(),
});
export type Move = z.infer<typeof Move>;

const RegistryFile = z.object({
  schema: z.literal(1),
  versions: z.record(z.string(), VersionEntry),
  aliases: z.object({ champion: z.string().nullable(), challenger: z.string().nullable() }),
  history: z.array(Move),
});
export type RegistryFile = z.infer<typeof RegistryFile>;

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export interface RegistryOptions {
  /** Folder holding registry.json and versions/. */
  root: string;
  /** The committed model that serves until something is promoted. */
  bundledDir: string;
}

export interface VersionInfo {
  version: string;
  dir: string;
  addedAt: string;
  addedBy: string;
  aliases: Alias[];
  note?: string;
}

/** Who is making a move: `RV_USER`, else the login name on this host. */
export function defaultActor(): string {
  if (process.env.RV_USER) return process.env.RV_USER;
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

const LOCK_STALE_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ModelRegistry {
  readonly root: string;
  readonly bundledDir: string;

  constructor(opts: RegistryOptions) {
    this.root = resolve(opts.root);
    this.bundledDir = resolve(opts.bundledDir);
  }

  get file(): string {
    return join(this.root, REGISTRY_FILE);
  }

  /** The registry as stored, or the implicit one (bundled model as champion) before the first move. */
  read(): RegistryFile {
    if (!existsSync(this.file)) return this.initial();
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new RegistryError(`cannot read model registry ${this.file}: ${(e as Error).message}`);
    }
    const parsed = RegistryFile.safeParse(raw);
    if (!parsed.success)
      throw new RegistryError(
        `invalid model registry ${this.file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    return parsed.data;
  }

  /** mtime+size of registry.json: what a watcher compares to notice a move without parsing. */
  stamp(): string {
    try {
      const s = statSync(this.file);
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      return 'none';
    }
  }

  private initial(): RegistryFile {
    const card = readCard(this.bundledDir);
    return {
      schema: 1,
      versions: { [card.version]: { path: this.bundledDir, addedAt: card.createdAt, addedBy: 'bundled', note: 'the committed model' } },
      aliases: { champion: card.version, challenger: null },
      history: [],
    };
  }

  dirOf(version: string, reg = this.read()): string {
    const e = reg.versions[version];
    if (!e) throw new RegistryError(`unknown model version '${version}' (pnpm model list shows the known ones)`);
    return isAbsolute(e.path) ? e.path : join(this.root, e.path);
  }

  /** The version an alias points at, with its folder; null when the alias is unset. */
  resolveAlias(alias: Alias): { version: string; dir: string } | null {
    const reg = this.read();
    const v = reg.aliases[alias];
    return v ? { version: v, dir: this.dirOf(v, reg) } : null;
  }

  list(): VersionInfo[] {
    const reg = this.read();
    return Object.entries(reg.versions)
      .map(([version, e]) => ({
        version,
        dir: this.dirOf(version, reg),
        addedAt: e.addedAt,
        addedBy: e.addedBy,
        ...(e.note ? { note: e.note } : {}),
        aliases: ALIASES.filter((a) => reg.aliases[a] === version),
      }))
      .sort((a, b) => a.addedAt.localeCompare(b.addedAt));
  }

  history(): Move[] {
    return this.read().history;
  }

  /**
   * Copies a trained model folder into versions/<version>/ (the version is checked against the
   * weights, so a folder whose card lies is refused) and records it. Adding a known version is a no-op,
   * unless its card serves it differently (confidence map, review thresholds): the version names the
   * weights, so one version cannot carry two calibrations, and keeping the old card silently would
   * serve something other than what was evaluated.
   */
  async add(dir: string, opts: { by?: string; note?: string } = {}): Promise<string> {
    const src = resolve(dir);
    const card = readCard(src);
    const { weights } = readArtifacts(src);
    const actual = weightsVersion(weights);
    if (actual !== card.version)
      throw new RegistryError(`${src}: model-card.json names weights ${card.version}, the weights hash to ${actual}`);
    return this.update((reg) => {
      if (reg.versions[card.version]) {
        const known = readCard(this.dirOf(card.version, reg));
        const served = (c: typeof card) => ({ inference: c.inference, review: c.review });
        if (!isDeepStrictEqual(served(known), served(card)))
          throw new RegistryError(
            `${src}: version ${card.version} is registered with another calibration (its card's inference or review differs); ` +
              'the version names the weights, so recalibrate into new weights (pnpm train --epochs 0 folds a new temperature)',
          );
        return card.version;
      }
      const rel = join('versions', card.version);
      const dest = join(this.root, rel);
      const tmp = `${dest}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      // The held-back reviewed items travel with the model: the gate judges it on them.
      for (const f of [MODEL_JSON, ...weightFiles(src), 'model-card.json', ONNX_FILE, REVIEW_HOLDOUT_FILE]) {
        if (existsSync(join(src, f))) cpSync(join(src, f), join(tmp, f));
      }
      rmSync(dest, { recursive: true, force: true });
      renameSync(tmp, dest);
      reg.versions[card.version] = {
        path: rel,
        addedAt: new Date().toISOString(),
        addedBy: opts.by ?? defaultActor(),
        ...(opts.note ? { note: opts.note } : {}),
      };
      return card.version;
    });
  }

  /** Points an alias at a version (or clears it), recording the move. */
  async move(
    alias: Alias,
    to: string | null,
    opts: { by?: string; reason: string; kind: Move['kind']; forced?: boolean; gate?: GateReport },
  ): Promise<Move> {
    return this.update((reg) => {
      if (to !== null && !reg.versions[to]) throw new RegistryError(`unknown model version '${to}' (pnpm model list shows the known ones)`);
      const move: Move = {
        at: new Date().toISOString(),
        alias,
        from: reg.aliases[alias],
        to,
        by: opts.by ?? defaultActor(),
        reason: opts.reason,
        kind: opts.kind,
        forced: opts.forced ?? false,
        ...(opts.gate ? { gate: opts.gate } : {}),
      };
      reg.aliases[alias] = to;
      // A champion is never also the challenger: shadowing yourself measures nothing.
      if (alias === 'champion' && reg.aliases.challenger === to) reg.aliases.challenger = null;
      reg.history.push(move);
      return move;
    });
  }

  /** Back to the champion before the last promotion (or rollback): the same move, backwards. */
  async rollback(opts: { by?: string; reason?: string } = {}): Promise<Move> {
    const last = [...this.read().history].reverse().find((m) => m.alias === 'champion' && m.from);
    if (!last?.from) throw new RegistryError('nothing to roll back: the champion has never been replaced');
    return this.move('champion', last.from, {
      by: opts.by,
      reason: opts.reason ?? `rollback of ${last.to} (moved ${last.at})`,
      kind: 'rollback',
    });
  }

  /** Runs `fn` on the current registry under the lock and writes what it leaves, atomically. */
  private async update<T>(fn: (reg: RegistryFile) => T): Promise<T> {
    mkdirSync(this.root, { recursive: true });
    const lock = join(this.root, 'registry.lock');
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // A lock left by a killed CLI must not block every later move forever.
        try {
          if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
        } catch {
          /* gone meanwhile */
        }
        if (Date.now() > deadline) throw new RegistryError(`model registry ${this.root} is locked (${lock}); another move is in progress`);
        await sleep(20);
      }
    }
    try {
      const reg = this.read();
      const out = fn(reg);
      const tmp = `${this.file}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(reg, null, 2) + '\n');
      renameSync(tmp, this.file);
      return out;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }

  /** The registry root relative to a base, for messages. */
  describe(base = process.cwd()): string {
    return relative(base, this.root) || '.';
  }
}
