/**
 * One typed configuration: defaults in code, then `refund-vision.config.json` (or the file named by
 * RV_CONFIG), then environment variables. Invalid values fail at start with the key named.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/** The repository root: the nearest folder above this file holding pnpm-workspace.yaml. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0);
const ratio = z.coerce.number().min(0).max(1);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const ConfigSchema = z.object({
  root: z.string(),
  api: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(5000),
    /** Required when host is not loopback; then every non-health route needs `Bearer <key>`. */
    apiKey: z.string().min(16, 'api.apiKey: at least 16 characters').optional(),
    /** The embedded SQLite store, used unless databaseUrl is set. */
    dbPath: z.string().default('data/refund-vision.db'),
    /** `postgres://user:password@host:port/database`: a shared PostgreSQL store instead of dbPath. */
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'expected postgres://user:password@host:port/database')
      .optional(),
    maxBatch: z.coerce.number().int().min(1).max(1024).default(1024),
    bodyLimitBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(8 * 1024 * 1024),
    uploadMaxBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(25 * 1024 * 1024),
    uploadMaxFiles: z.coerce.number().int().min(1).default(64),
    /**
     * Uploaded images whose header declares more pixels than this are refused before decoding. A
     * refund photo is a few MP (a 12 MP phone photo fits); the client's local files keep the
     * preprocess package's higher default.
     */
    maxImagePixels: z.coerce.number().int().min(1).default(20_000_000),
    /** Declared pixels of all the images in one upload request together; files past it are refused. */
    uploadMaxTotalPixels: z.coerce.number().int().min(1).default(120_000_000),
    /** Worker threads that decode uploads (never the request thread); each decodes one image at a time. */
    decodeWorkers: z.coerce
      .number()
      .int()
      .min(1)
      .default(Math.max(1, Math.min(2, cpus().length))),
    /** One image's decode taking longer than this is abandoned (its worker is replaced). */
    decodeTimeoutMs: z.coerce.number().int().min(1).default(15_000),
    /**
     * Work requests in flight past this get 503 + Retry-After at once (probes are never shed). Their
     * model runs take turns (one batch per event-loop turn), so this bounds how long an admitted
     * request queues, not how long a probe waits. 8 keeps both cores busy.
     */
    maxInFlight: z.coerce.number().int().min(1).default(8),
    /** Seconds a shed request is told to wait (Retry-After). */
    retryAfterSeconds: z.coerce.number().int().min(1).default(2),
    /**
     * A request refused as overloaded whose body is still arriving: the rest stays unread this long
     * before it is discarded, so a sender that ignores Retry-After cannot make refusals a busy loop
     * (0: read and discard at once). Keep it well under requestTimeoutMs (Node answers 408 past that).
     */
    shedHoldBodyMs: z.coerce.number().int().min(0).default(1000),
    /** A request must arrive complete within this (Node answers 408 and closes otherwise). */
    requestTimeoutMs: z.coerce.number().int().min(1).default(60_000),
    /** After a fatal error, probes say 503 (and work is refused) this long before the listener closes. */
    fatalAnnounceMs: z.coerce.number().int().min(0).default(1000),
    /** The request line and headers must arrive within this. */
    headersTimeoutMs: z.coerce.number().int().min(1).default(20_000),
    /** Worker processes for serving (1 = in-process); each holds its own engine. */
    workers: z.coerce.number().int().min(1).default(1),
  }),
  model: z.object({
    /** The bundled model: served until the registry names another champion. */
    dir: z.string().default('models/fashion-cnn'),
    backend: z.enum(['auto', 'onnx', 'node', 'wasm', 'cpu']).default('auto'),
    /** Model registry (registry.json + versions/): champion/challenger, promotions, rollbacks. */
    registry: z.string().default('data/models'),
    /** How often the API checks the registry for a new champion/challenger (0 = never: no hot swap). */
    registryPollMs: ms.default(2000),
  }),
  client: z.object({
    apiUrl: z.string().url().default('http://127.0.0.1:5000'),
    /**
     * Several API replicas (env API_URLS, comma-separated): batches are spread over the healthy ones
     * and fail over when one stops answering. When set, it replaces apiUrl.
     */
    apiUrls: z
      .preprocess(
        (v) =>
          typeof v === 'string'
            ? v
                .split(',')
                .map((u) => u.trim())
                .filter(Boolean)
            : v,
        z.array(z.string().url()).min(1, 'at least one URL'),
      )
      .optional(),
    inbox: z.string().default('data/inbox'),
    outbox: z.string().default('data/outbox'),
    results: z.string().default('data/results'),
    stateDir: z.string().default('data/client'),
    batchSize: z.coerce.number().int().min(1).max(1024).default(256),
    retries: z.coerce.number().int().min(0).max(20).default(3),
    retryBaseDelayMs: ms.default(1000),
    retryMaxDelayMs: ms.default(60_000),
    timeoutMs: ms.default(30_000),
    gzip: bool.default(true),
    workers: z.coerce.number().int().min(1).default(Math.max(1, cpus().length)),
    maxFileBytes: z.coerce
      .number()
      .int()
      .min(1)
      .default(64 * 1024 * 1024),
    cron: z.string().default('0 18 * * *'),
    timezone: z.string().optional(),
    /** What to do at start when the last scheduled run was missed: run it now, or skip it. */
    catchUp: z.enum(['run', 'skip']).default('run'),
    readyTimeoutMs: ms.default(120_000),
  }),
  review: z.object({
    /**
     * The low-confidence rule (highest probability below this) for a model card without a `review`
     * policy; a card's policy, chosen on validation data, always wins.
     */
    lowConfidence: ratio.default(0.5),
    /** How long a reviewer's claim on a queue item lasts before another reviewer may take it. */
    leaseSeconds: z.coerce.number().int().min(1).default(300),
  }),
  logs: z.object({
    dir: z.string().default('logs'),
    level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    console: bool.default(true),
  }),
  health: z.object({
    lowConfidence: ratio.default(0.6),
    /** Drop of mean confidence below the model card's test-set baseline. */
    confidenceDropWarn: ratio.default(0.05),
    confidenceDropAlert: ratio.default(0.15),
    lowShareWarn: ratio.default(0.2),
    lowShareAlert: ratio.default(0.4),
    /** Jensen–Shannon distance (base 2, 0–1) between predicted and reference class mix. */
    classMixWarn: ratio.default(0.3),
    classMixAlert: ratio.default(0.5),
    /** Runs smaller than this use chi-squared instead of JS distance. */
    smallRun: z.coerce.number().int().min(1).default(50),
    /**
     * Input drift as used by the API's health checks: the shift of a run's mean pixel / near-zero
     * share in units of the training set's PER-IMAGE spread (monitoring.imageMeanStd /
     * imageNearZeroStd). A folder of one legitimate class moves at most ~1.2 of these units; photos
     * that were not inverted move ~3.4.
     */
    driftWarnSd: z.coerce.number().min(0).default(1.5),
    driftAlertSd: z.coerce.number().min(0).default(2.5),
    /** Ratio of the run's pixel std to the training pixel std (either way round). */
    stdRatioWarn: z.coerce.number().min(1).default(1.4),
    stdRatioAlert: z.coerce.number().min(1).default(2),
    /** Chi-squared p-values for the class mix of runs smaller than smallRun. */
    classMixPWarn: ratio.default(0.01),
    classMixPAlert: ratio.default(0.001),
    /** A check judges the effect minus this many standard errors, so tiny runs do not cry wolf. */
    significanceZ: z.coerce.number().min(0).default(2),
  }),
});

export type Config = z.infer<typeof ConfigSchema>;
type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type ConfigOverrides = DeepPartial<Config>;

/** Environment variable → config key. */
export const ENV_KEYS: Record<string, string> = {
  HOST: 'api.host',
  PORT: 'api.port',
  API_KEY: 'api.apiKey',
  DB_PATH: 'api.dbPath',
  DATABASE_URL: 'api.databaseUrl',
  API_WORKERS: 'api.workers',
  MAX_BATCH: 'api.maxBatch',
  MAX_IMAGE_PIXELS: 'api.maxImagePixels',
  UPLOAD_MAX_TOTAL_PIXELS: 'api.uploadMaxTotalPixels',
  API_DECODE_WORKERS: 'api.decodeWorkers',
  DECODE_TIMEOUT_MS: 'api.decodeTimeoutMs',
  API_MAX_IN_FLIGHT: 'api.maxInFlight',
  API_RETRY_AFTER_S: 'api.retryAfterSeconds',
  API_SHED_HOLD_BODY_MS: 'api.shedHoldBodyMs',
  API_REQUEST_TIMEOUT_MS: 'api.requestTimeoutMs',
  API_HEADERS_TIMEOUT_MS: 'api.headersTimeoutMs',
  API_FATAL_ANNOUNCE_MS: 'api.fatalAnnounceMs',
  MODEL_DIR: 'model.dir',
  TFJS_BACKEND: 'model.backend',
  MODEL_REGISTRY: 'model.registry',
  MODEL_REGISTRY_POLL_MS: 'model.registryPollMs',
  API_URL: 'client.apiUrl',
  API_URLS: 'client.apiUrls',
  INBOX_DIR: 'client.inbox',
  OUTBOX_DIR: 'client.outbox',
  RESULTS_DIR: 'client.results',
  CLIENT_STATE_DIR: 'client.stateDir',
  BATCH_SIZE: 'client.batchSize',
  RETRIES: 'client.retries',
  RETRY_BASE_DELAY_MS: 'client.retryBaseDelayMs',
  RETRY_MAX_DELAY_MS: 'client.retryMaxDelayMs',
  REQUEST_TIMEOUT_MS: 'client.timeoutMs',
  CLIENT_WORKERS: 'client.workers',
  SCHEDULE_CRON: 'client.cron',
  SCHEDULE_TZ: 'client.timezone',
  CATCH_UP: 'client.catchUp',
  REVIEW_LOW_CONFIDENCE: 'review.lowConfidence',
  REVIEW_LEASE_SECONDS: 'review.leaseSeconds',
  LOG_DIR: 'logs.dir',
  LOG_LEVEL: 'logs.level',
  LOG_CONSOLE: 'logs.console',
};

function setPath(obj: Record<string, any>, path: string, value: unknown) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)!] = value;
}

function merge(a: Record<string, any>, b: Record<string, any> | undefined): Record<string, any> {
  if (!b) return a;
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? merge(out[k], v) : v;
  }
  return out;
}

const PATH_KEYS = [
  'api.dbPath',
  'model.dir',
  'model.registry',
  'client.inbox',
  'client.outbox',
  'client.results',
  'client.stateDir',
  'logs.dir',
];

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
  /** Config file path; default RV_CONFIG or <root>/refund-vision.config.json when present. */
  file?: string;
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const root = resolve(opts.overrides?.root ?? env.RV_ROOT ?? projectRoot());
  let raw: Record<string, any> = { root, api: {}, model: {}, client: {}, review: {}, logs: {}, health: {} };

  const file = opts.file ?? env.RV_CONFIG ?? join(root, 'refund-vision.config.json');
  if (existsSync(file)) {
    try {
      raw = merge(raw, JSON.parse(readFileSync(file, 'utf8')));
    } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
    }
  } else if (opts.file ?? env.RV_CONFIG) {
    throw new ConfigError(`config file ${file} does not exist`);
  }

  const fromEnv: Record<string, any> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(fromEnv, key, v);
  }
  raw = merge(merge(raw, fromEnv), opts.overrides as Record<string, any>);

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path.join('.');
      const envName = Object.entries(ENV_KEYS).find(([, k]) => key === k || key.startsWith(`${k}.`))?.[0];
      return `  ${key}${envName ? ` (env ${envName})` : ''}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  for (const key of PATH_KEYS) {
    const [section, name] = key.split('.') as [keyof Config, string];
    const sec = cfg[section] as unknown as Record<string, string>;
    if (!isAbsolute(sec[name]!)) sec[name] = join(root, sec[name]!);
  }
  return cfg;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
