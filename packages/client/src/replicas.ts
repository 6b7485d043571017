/**
 * The API replicas a client sends to (one URL, or `client.apiUrls`): batches go round-robin over
 * the healthy ones. A replica that fails a request (refused, timed out, 5xx, 429) is marked down
 * and probed on its readiness endpoint with a growing interval; it takes batches again once
 * /readyz answers 200. With every replica down the least recently failed one is tried anyway, so
 * the sender's retries and backoff still decide when to give up (and the outbox takes over).
 */
import axios from 'axios';
import type { Logger } from '@refund-vision/shared';

export interface Replica {
  readonly url: string;
  up: boolean;
  /** Consecutive failures (requests or probes) since it was last up. */
  failures: number;
  /** When the next probe of a down replica is due (ms since epoch). */
  probeAt: number;
  /** Requests it answered successfully, for the run's report. */
  served: number;
  /** Order in which replicas went down (ties of probeAt within one millisecond). */
  downSeq: number;
}

export interface ReplicaOptions {
  /** First wait before probing a replica that failed; doubles per failure up to `maxProbeMs`. */
  baseProbeMs: number;
  maxProbeMs: number;
  /** Timeout of one readiness probe. */
  probeTimeoutMs: number;
  logger?: Logger;
}

export const trimUrl = (url: string): string => url.replace(/\/+$/, '');

export class ReplicaSet {
  readonly replicas: Replica[];
  private next = 0;
  private downs = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    urls: string[],
    private readonly opts: ReplicaOptions,
  ) {
    if (!urls.length) throw new Error('no API URL given');
    this.replicas = [...new Set(urls.map(trimUrl))].map((url) => ({ url, up: true, failures: 0, probeAt: 0, served: 0, downSeq: 0 }));
  }

  get size(): number {
    return this.replicas.length;
  }

  healthy(): Replica[] {
    return this.replicas.filter((r) => r.up);
  }

  /** The replica for the next request: round-robin over healthy ones other than `avoid`. */
  pick(avoid?: string): Replica {
    const n = this.replicas.length;
    for (const allowAvoided of [false, true]) {
      for (let i = 0; i < n; i++) {
        const r = this.replicas[(this.next + i) % n]!;
        if (!r.up || (!allowAvoided && r.url === avoid)) continue;
        this.next = (this.next + i + 1) % n;
        return r;
      }
    }
    // All down: the one that has been down longest (its probe is due first) gets the attempt.
    return [...this.replicas].sort((a, b) => a.probeAt - b.probeAt || a.downSeq - b.downSeq)[0]!;
  }

  /** A healthy replica other than `url` exists: a retry can go there at once, without backoff. */
  hasAlternative(url: string): boolean {
    return this.replicas.some((r) => r.up && r.url !== trimUrl(url));
  }

  byUrl(url: string | undefined): Replica | undefined {
    return url === undefined ? undefined : this.replicas.find((r) => r.url === trimUrl(url));
  }

  succeeded(url: string | undefined): void {
    const r = this.byUrl(url);
    if (!r) return;
    r.served++;
    if (!r.up) this.markUp(r, 'answered a request');
    r.failures = 0;
  }

  failed(url: string | undefined, reason: string): void {
    const r = this.byUrl(url);
    if (!r || this.replicas.length === 1) return; // one URL (a load balancer): nothing to fail over to
    r.failures++;
    r.probeAt = Date.now() + this.delay(r.failures);
    if (r.up) {
      r.up = false;
      r.downSeq = ++this.downs;
      this.opts.logger?.warn(`API replica down, failing over: ${r.url} (${reason})`, {
        replica: r.url,
        healthy: this.healthy().length,
        of: this.replicas.length,
      });
    }
    this.schedule();
  }

  /** Asks every replica's /readyz once (in parallel); marks the ones not ready down. */
  async checkAll(): Promise<number> {
    if (this.replicas.length === 1) return 1;
    await Promise.all(
      this.replicas.map(async (r) => {
        const ready = await this.probe(r);
        if (!ready) this.failed(r.url, 'not ready');
        else if (!r.up) this.markUp(r, 'ready');
      }),
    );
    return this.healthy().length;
  }

  /** Stops probing (a run is over). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private delay(failures: number): number {
    return Math.min(this.opts.maxProbeMs, this.opts.baseProbeMs * 2 ** Math.max(0, failures - 1));
  }

  private markUp(r: Replica, why: string): void {
    r.up = true;
    r.failures = 0;
    this.opts.logger?.info(`API replica back: ${r.url} (${why})`, {
      replica: r.url,
      healthy: this.healthy().length,
      of: this.replicas.length,
    });
  }

  async probe(r: Replica): Promise<boolean> {
    try {
      const res = await axios.get(`${r.url}/readyz`, { timeout: this.opts.probeTimeoutMs, validateStatus: () => true });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** One timer for all down replicas, set for the earliest probe due. */
  private schedule(): void {
    if (this.closed || this.timer) return;
    const down = this.replicas.filter((r) => !r.up);
    if (!down.length) return;
    const wait = Math.max(0, Math.min(...down.map((r) => r.probeAt)) - Date.now());
    this.timer = setTimeout(() => void this.probeDue(), wait);
    this.timer.unref(); // probing never keeps a finished process alive
  }

  private async probeDue(): Promise<void> {
    this.timer = undefined;
    const now = Date.now();
    await Promise.all(
      this.replicas
        .filter((r) => !r.up && r.probeAt <= now)
        .map(async (r) => {
          if (await this.probe(r)) {
            if (!r.up) this.markUp(r, '/readyz 200');
          } else if (!r.up) {
            r.failures++;
            r.probeAt = Date.now() + this.delay(r.failures);
          }
        }),
    );
    this.schedule();
  }
}
