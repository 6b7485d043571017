/**
 * Talks to the API: POST /v1/predict with an Idempotency-Key per batch, retried on network errors,
 * timeouts, 5xx and 429 (POST included — safe because the server dedups on the key) with
 * exponential backoff, jitter and a cap; POST /v1/runs/:key/complete; GET /readyz.
 * With several replicas (`apiUrls`) each request goes to the next healthy one, and a retry after a
 * failure goes at once to another healthy replica (replicas.ts); exactly-once still rests on the
 * API's (run, batch) key, which every replica shares through the one store.
 */
import { gzipSync } from 'node:zlib';
import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig } from 'axios';
import axiosRetry from 'axios-retry';
import {
  PredictResponse,
  type CompleteRunRequest,
  type Config,
  type Logger,
  type PredictRequest,
  type ThumbnailsRequest,
} from '@refund-vision/shared';
import { ReplicaSet } from './replicas.ts';

export type SendFailure = 'unreachable' | 'rejected' | 'auth' | 'invalid-response';

export class SendError extends Error {
  constructor(
    readonly kind: SendFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SendError';
  }
  /** Another attempt later (next run) may succeed; `rejected` means this body will never be accepted. */
  get retryLater(): boolean {
    return this.kind !== 'rejected';
  }
}

export interface SenderOptions {
  apiUrl: string;
  /** Several replicas; when given, `apiUrl` is only used in messages. */
  apiUrls?: string[];
  retries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  timeoutMs: number;
  gzip: boolean;
  apiKey?: string;
  logger?: Logger;
}

export function senderOptions(cfg: Config, logger?: Logger): SenderOptions {
  const c = cfg.client;
  return {
    apiUrl: c.apiUrls?.join(', ') ?? c.apiUrl,
    apiUrls: c.apiUrls ?? [c.apiUrl],
    retries: c.retries,
    retryBaseDelayMs: c.retryBaseDelayMs,
    retryMaxDelayMs: c.retryMaxDelayMs,
    timeoutMs: c.timeoutMs,
    gzip: c.gzip,
    apiKey: cfg.api.apiKey,
    logger,
  };
}

/** Network errors, timeouts, 5xx, 408 and 429 are worth another try; other 4xx are not. */
export function isTransient(err: AxiosError): boolean {
  if (err.code === AxiosError.ERR_CANCELED) return false;
  if (!err.response) return true;
  const s = err.response.status;
  return s >= 500 || s === 429 || s === 408;
}

/**
 * Delay before retry `n` (1-based): base·2^(n-1) with "equal jitter" (half fixed, half random),
 * never more than `max`; a server's Retry-After is honoured up to the same cap.
 */
export function backoffDelay(n: number, baseMs: number, maxMs: number, retryAfterMs = 0, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.round(Math.min(maxMs, Math.max(jittered, retryAfterMs)));
}

function retryAfterMs(err: AxiosError): number {
  const h = err.response?.headers?.['retry-after'];
  if (h === undefined || h === null) return 0;
  const secs = Number(h);
  if (Number.isFinite(secs)) return secs * 1000;
  const at = Date.parse(String(h));
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

function describe(err: AxiosError): string {
  if (err.response) return `HTTP ${err.response.status}`;
  return err.code ?? err.message;
}

export class Sender {
  readonly http: AxiosInstance;
  readonly replicas: ReplicaSet;

  constructor(readonly opts: SenderOptions) {
    this.replicas = new ReplicaSet(opts.apiUrls?.length ? opts.apiUrls : [opts.apiUrl], {
      baseProbeMs: Math.max(10, opts.retryBaseDelayMs),
      maxProbeMs: Math.max(10, Math.min(opts.retryMaxDelayMs, 30_000)),
      probeTimeoutMs: Math.min(opts.timeoutMs, 5000),
      logger: opts.logger,
    });
    this.http = axios.create({
      timeout: opts.timeoutMs,
      headers: opts.apiKey ? { Authorization: `Bearer ${opts.apiKey}` } : {},
      // Bodies are sent as we built them (gzip or not); never re-serialized on a retry.
      transformRequest: [(data) => data],
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
    });
    axiosRetry(this.http, {
      retries: opts.retries,
      shouldResetTimeout: true,
      retryCondition: isTransient,
      retryDelay: (n, err) => {
        const failedAt = err.config?.baseURL;
        this.replicas.failed(failedAt, describe(err));
        // Another healthy replica takes the retry at once; backoff is for when there is none.
        const delay =
          failedAt && this.replicas.hasAlternative(failedAt)
            ? 0
            : backoffDelay(n, opts.retryBaseDelayMs, opts.retryMaxDelayMs, retryAfterMs(err));
        const ctx = (err.config as { rv?: Record<string, unknown> } | undefined)?.rv ?? {};
        opts.logger?.warn(`retrying ${err.config?.method?.toUpperCase()} ${err.config?.url} after ${describe(err)}`, {
          ...ctx,
          ...(this.replicas.size > 1 ? { replica: failedAt } : {}),
          attempt: n + 1,
          of: opts.retries + 1,
          delayMs: delay,
        });
        return delay;
      },
      onRetry: (_n, _err, config) => {
        config.baseURL = this.replicas.pick(config.baseURL).url;
      },
    });
  }

  /** Stops probing replicas that are down; call when the run is over. */
  close(): void {
    this.replicas.close();
  }

  private body(json: unknown): { data: Buffer; headers: Record<string, string> } {
    const raw = Buffer.from(JSON.stringify(json), 'utf8');
    if (!this.opts.gzip) return { data: raw, headers: { 'Content-Type': 'application/json' } };
    return { data: gzipSync(raw, { level: 6 }), headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' } };
  }

  /** POSTs to the next healthy replica (retries may move to others); `servedBy` is the one that answered. */
  private async post<T>(
    url: string,
    json: unknown,
    headers: Record<string, string>,
    ctx: Record<string, unknown>,
  ): Promise<{ data: T; servedBy: string }> {
    const { data, headers: h } = this.body(json);
    try {
      const res = await this.http.post(url, data, {
        baseURL: this.replicas.pick().url,
        headers: { ...h, ...headers },
        rv: ctx,
      } as AxiosRequestConfig);
      this.replicas.succeeded(res.config.baseURL);
      return { data: res.data as T, servedBy: res.config.baseURL! };
    } catch (e) {
      if (e instanceof AxiosError && isTransient(e)) this.replicas.failed(e.config?.baseURL, describe(e));
      throw toSendError(e, e instanceof AxiosError ? (e.config?.baseURL ?? this.opts.apiUrl) : this.opts.apiUrl);
    }
  }

  /** Sends one batch; resolves with the API's answer (a replay when the batch was already recorded). */
  async predict(req: PredictRequest, ctx: Record<string, unknown> = {}): Promise<PredictResponse & { servedBy: string }> {
    const key = idempotencyKey(req.runKey, req.batchIndex);
    const { data, servedBy } = await this.post<unknown>(
      '/v1/predict',
      req,
      { 'Idempotency-Key': key },
      { run: req.runKey, batch: req.batchIndex, ...ctx },
    );
    const parsed = PredictResponse.safeParse(data);
    if (!parsed.success) throw new SendError('invalid-response', `unexpected /v1/predict answer: ${parsed.error.issues[0]?.message}`);
    if (parsed.data.predictions.length !== req.images.length) {
      throw new SendError('invalid-response', `asked for ${req.images.length} predictions, got ${parsed.data.predictions.length}`);
    }
    return { ...parsed.data, servedBy };
  }

  /** The second request for a batch: small photos of the images the API flagged for review. */
  async thumbnails(body: ThumbnailsRequest, ctx: Record<string, unknown> = {}): Promise<{ stored: number; missing: number[] }> {
    return (await this.post<{ stored: number; missing: number[] }>('/v1/reviews/thumbnails', body, {}, ctx)).data;
  }

  /** Closes a run so its metrics are final. A run the API never saw (no batch sent) is not an error. */
  async complete(runKey: string, body: CompleteRunRequest): Promise<'completed' | 'unknown-run'> {
    try {
      await this.post(`/v1/runs/${encodeURIComponent(runKey)}/complete`, body, {}, { run: runKey });
      return 'completed';
    } catch (e) {
      if (e instanceof SendError && e.status === 404) return 'unknown-run';
      throw e;
    }
  }

  /**
   * Polls every replica's /readyz until one answers 200 or `timeoutMs` passes. Replicas not ready
   * then are marked down (and probed), so the run starts on the ready ones.
   */
  async waitReady(timeoutMs: number, intervalMs = 1000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = this.replicas.size > 1 ? (await this.replicas.checkAll()) > 0 : await this.replicas.probe(this.replicas.replicas[0]!);
      if (ready) return true;
      if (Date.now() + intervalMs > deadline) return false;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

export function idempotencyKey(runKey: string, batchIndex: number): string {
  return `${runKey}:${batchIndex}`;
}

export function toSendError(e: unknown, apiUrl: string): SendError {
  if (e instanceof SendError) return e;
  if (e instanceof AxiosError) {
    const status = e.response?.status;
    const msg = (e.response?.data as { error?: { message?: string } } | undefined)?.error?.message;
    if (status === undefined) return new SendError('unreachable', `API unreachable at ${apiUrl}: ${e.code ?? e.message}`);
    if (isTransient(e)) return new SendError('unreachable', `API failing: HTTP ${status}${msg ? ` ${msg}` : ''}`, status);
    if (status === 401 || status === 403)
      return new SendError('auth', `API refused the credentials: HTTP ${status}${msg ? ` ${msg}` : ''}`, status);
    return new SendError('rejected', `API rejected the request: HTTP ${status}${msg ? ` ${msg}` : ''}`, status);
  }
  return new SendError('unreachable', (e as Error)?.message ?? String(e));
}
