/**
 * Talks to the API: POST /v1/predict with an Idempotency-Key per batch, retried on network errors,
 * timeouts, 5xx and 429 (POST included — safe because the server dedups on the key) with
 * exponential backoff, jitter and a cap; POST /v1/runs/:key/complete; GET /readyz.
 */
import { gzipSync } from 'node:zlib';
import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig } from 'axios';
import axiosRetry from 'axios-retry';
import { PredictResponse, type CompleteRunRequest, type Config, type Logger, type PredictRequest } from '@refund-vision/shared';

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
    apiUrl: c.apiUrl,
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

  constructor(readonly opts: SenderOptions) {
    this.http = axios.create({
      baseURL: opts.apiUrl.replace(/\/+$/, ''),
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
        const delay = backoffDelay(n, opts.retryBaseDelayMs, opts.retryMaxDelayMs, retryAfterMs(err));
        const ctx = (err.config as { rv?: Record<string, unknown> } | undefined)?.rv ?? {};
        opts.logger?.warn(`retrying ${err.config?.method?.toUpperCase()} ${err.config?.url} after ${describe(err)}`, {
          ...ctx,
          attempt: n + 1,
          of: opts.retries + 1,
          delayMs: delay,
        });
        return delay;
      },
    });
  }

  private body(json: unknown): { data: Buffer; headers: Record<string, string> } {
    const raw = Buffer.from(JSON.stringify(json), 'utf8');
    if (!this.opts.gzip) return { data: raw, headers: { 'Content-Type': 'application/json' } };
    return { data: gzipSync(raw, { level: 6 }), headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' } };
  }

  private async post<T>(url: string, json: unknown, headers: Record<string, string>, ctx: Record<string, unknown>): Promise<T> {
    const { data, headers: h } = this.body(json);
    try {
      const res = await this.http.post(url, data, { headers: { ...h, ...headers }, rv: ctx } as AxiosRequestConfig);
      return res.data as T;
    } catch (e) {
      throw toSendError(e, this.opts.apiUrl);
    }
  }

  /** Sends one batch; resolves with the API's answer (a replay when the batch was already recorded). */
  async predict(req: PredictRequest, ctx: Record<string, unknown> = {}): Promise<PredictResponse> {
    const key = idempotencyKey(req.runKey, req.batchIndex);
    const data = await this.post<unknown>(
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
    return parsed.data;
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

  /** Polls /readyz until the API answers 200 or `timeoutMs` passes. */
  async waitReady(timeoutMs: number, intervalMs = 1000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await axios.get(`${this.opts.apiUrl.replace(/\/+$/, '')}/readyz`, {
          timeout: Math.min(5000, Math.max(100, timeoutMs)),
          validateStatus: () => true,
        });
        if (res.status === 200) return true;
      } catch {
        // not listening yet
      }
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
