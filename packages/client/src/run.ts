/**
 * One client run, start to finish: outbox first, then scan → hash → skip known → preprocess in the
 * worker pool → batch → outbox file → send → ledger + results journal; then the results CSV, the
 * run's completion on the API, and a summary event counting the API's review reasons and listing the items.
 *
 * Crash safety rests on one ordering: a batch is written to the outbox (atomically) before it is
 * sent, and removed only after its acknowledgement is in the ledger. A restart therefore resends
 * exactly the unacknowledged batches under their original Idempotency-Key, and the scan skips
 * every image that is acknowledged (ledger) or waiting (outbox).
 */
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import {
  CLASS_NAMES,
  createLogger,
  encodePixels,
  MAX_THUMBNAIL_BYTES,
  REVIEW_REASON_ORDER,
  type Config,
  type ImageMeta,
  type Logger,
  type PredictRequest,
  type PredictResponse,
  type ReviewReason,
  type ThumbnailsRequest,
} from '@refund-vision/shared';
import { Batcher, type Batch } from './batcher.ts';
import { Ledger, hashFile } from './ledger.ts';
import { Outbox, type OutboxEntry } from './outbox.ts';
import { RowJournal, resultsPath, writeResultsCsv, type ResultRow } from './results-csv.ts';
import { acquireLock } from './run-lock.ts';
import { RunStore, newRunKey, type RunState } from './run-state.ts';
import { scanFolders, type ScanFile, type ScanProblem } from './scanner.ts';
import { SendError, Sender, senderOptions } from './sender.ts';

/** The part of @refund-vision/preprocess the client uses. */
export interface PreprocessPool {
  run(path: string): Promise<{ pixels: Uint8Array; kind: string }>;
  close(): Promise<void> | void;
}

export interface RunOptions {
  config: Config;
  /** Folders (or files) to scan; default the configured inbox. */
  folders?: string[];
  /** Classify images again even when the ledger knows them. */
  reprocess?: boolean;
  logger?: Logger;
  /** A pool to share across runs (the scheduler's); otherwise one is made and closed per run. */
  pool?: PreprocessPool;
  now?: () => Date;
}

export interface RunReport {
  runKey: string;
  resumed: boolean;
  folders: string[];
  /** Files and problems the scan found in this invocation. */
  found: number;
  /** Already classified (or already failed) in an earlier run. */
  known: number;
  /** Waiting in the outbox from an earlier attempt, not batched again. */
  pending: number;
  duplicates: number;
  classified: number;
  queued: number;
  rejected: number;
  failed: number;
  /** Batches from the outbox delivered at the start of this run. */
  outboxDelivered: number;
  /** Batches still in the outbox when the run ended (any run's). */
  outboxRemaining: number;
  completed: boolean;
  resultsPath: string;
  processMs: number;
  /** Classified images a person should look at, by the API's reason (described as in the events log). */
  reviews: Record<ReviewReason, string[]>;
  /** Everything found was either classified, reported as a bad file, or a duplicate. */
  delivered: boolean;
  /**
   * Why the run stopped early, if it did: `auth` when the API refused the credentials (401/403).
   * Retrying cannot help then, so the scan stops; batches stay in the outbox and the run resumes
   * under the same key once the key is fixed.
   */
  stopped?: 'auth';
  summary: string;
}

const FAIL_REASONS_NOT_LEDGERED = new Set(['unreadable', 'empty', 'too-large', 'missing-folder', 'symlink-loop', 'bad-list', 'error']);

function imageErrorReason(e: unknown): string {
  const reason = (e as { reason?: unknown })?.reason;
  return typeof reason === 'string' ? reason : 'error';
}

export function describeRow(r: ResultRow): string {
  const got = r.classIndex === undefined ? '?' : `${CLASS_NAMES[r.classIndex]} ${(r.confidence ?? 0).toFixed(2)}`;
  const exp = r.expected === undefined ? '' : `expected ${CLASS_NAMES[r.expected]}, `;
  return `${r.file}${r.orderId ? ` (order ${r.orderId})` : ''}: ${exp}got ${got}`;
}

export async function runBatch(opts: RunOptions): Promise<RunReport> {
  const cfg = opts.config;
  const c = cfg.client;
  const baseLog = opts.logger ?? createLogger('client', cfg.logs);
  const now = opts.now ?? (() => new Date());
  const t0 = performance.now();
  const roots = (opts.folders?.length ? opts.folders : [c.inbox]).map((f) => resolve(f));
  const reprocess = !!opts.reprocess;

  const sender = new Sender(senderOptions(cfg, baseLog));
  const release = acquireLock(c.stateDir);
  let ownPool: PreprocessPool | undefined;
  try {
    const store = new RunStore(c.stateDir);
    const ledger = new Ledger(c.stateDir);
    const outbox = new Outbox(c.outbox);

    // Resume the interrupted run when it covered the same folders; otherwise start afresh and let
    // the old one finish through the outbox.
    let state = store.interrupted();
    let resumed = false;
    if (state && state.roots.join('\n') === roots.join('\n') && state.reprocess === reprocess) {
      resumed = true;
    } else {
      if (state) {
        state.phase = 'finishing';
        store.save(state);
        baseLog.warn('an interrupted run covered other folders; its queued batches will still be delivered', { run: state.runKey });
      }
      state = {
        version: 1,
        runKey: newRunKey(now()),
        startedAt: now().toISOString(),
        phase: 'running',
        nextBatchIndex: 0,
        processMs: 0,
        roots,
        reprocess,
      };
      store.save(state);
    }
    const run: RunState = state;
    const runKey = run.runKey;
    const log = baseLog.child({ run: runKey });
    log.info(resumed ? 'run resumed after an interruption' : 'run started', {
      folders: roots.join(', '),
      reprocess,
      apiUrl: sender.opts.apiUrl,
    });
    // Several replicas: start on the ready ones (the others are probed and rejoin when ready).
    if (sender.replicas.size > 1) await sender.replicas.checkAll();

    const journals = new Map<string, RowJournal>();
    const journal = (key: string) => journals.get(key) ?? journals.set(key, new RowJournal(c.stateDir, key)).get(key)!;
    let apiDown: SendError | undefined;
    /** Set when the API refused our credentials: nothing more is scanned or sent in this run. */
    let refused: SendError | undefined;

    const rowsFromResponse = (entry: OutboxEntry, res: PredictResponse): ResultRow[] =>
      entry.request.images.map((img, i) => {
        const p = res.predictions[i]!;
        const x = entry.extras[i] ?? { path: '' };
        return {
          file: img.id,
          group: img.group ?? '',
          status: 'classified',
          classIndex: p.classIndex,
          confidence: p.confidence,
          top3: p.top3.map((t) => ({ className: t.className, confidence: t.confidence })),
          ...(x.orderId !== undefined ? { orderId: x.orderId } : {}),
          ...(x.expected !== undefined ? { expected: x.expected } : {}),
          ...(p.review ? { review: p.review } : {}),
          ...(x.kind ? { kind: x.kind } : {}),
          batch: entry.request.batchIndex,
          ...(img.hash ? { hash: img.hash } : {}),
        } satisfies ResultRow;
      });

    const rowsWithStatus = (entry: OutboxEntry, status: 'queued' | 'rejected', detail: string): ResultRow[] =>
      entry.request.images.map((img, i) => ({
        file: img.id,
        group: img.group ?? '',
        status,
        detail,
        ...(entry.extras[i]?.orderId !== undefined ? { orderId: entry.extras[i]!.orderId } : {}),
        ...(entry.extras[i]?.expected !== undefined ? { expected: entry.extras[i]!.expected } : {}),
        batch: entry.request.batchIndex,
        ...(img.hash ? { hash: img.hash } : {}),
      }));

    /**
     * Only the images answered with a review reason get a thumbnail, in a second request, so the
     * wire stays compact for the rest. Best effort: an item without one is reviewed from its 28×28.
     */
    const sendThumbnails = async (entry: OutboxEntry, res: PredictResponse, blog: Logger) => {
      const flagged = res.predictions.flatMap((p, i) =>
        p.review && p.predictionId && entry.extras[i]?.path ? [{ p, path: entry.extras[i]!.path }] : [],
      );
      if (!flagged.length) return;
      try {
        const { makeThumbnail } = await import('@refund-vision/preprocess');
        const items: ThumbnailsRequest['items'] = [];
        for (const { p, path } of flagged) {
          const t = await makeThumbnail(path).catch(() => undefined);
          // one odd photo that will not shrink must not sink the others' request
          if (t && t.data.length <= MAX_THUMBNAIL_BYTES)
            items.push({ predictionId: p.predictionId!, type: t.type, data: t.data.toString('base64') });
        }
        if (items.length) await sender.thumbnails({ items }, { run: entry.request.runKey, batch: entry.request.batchIndex });
        blog.debug('review thumbnails sent', { batch: entry.request.batchIndex, thumbnails: items.length, flagged: flagged.length });
      } catch (e) {
        blog.warn('review thumbnails not sent; the items stay reviewable from what the model saw', {
          batch: entry.request.batchIndex,
          error: (e as Error).message,
        });
      }
    };

    /** Sends one outbox file; true when the API acknowledged it. */
    const deliver = async (name: string, entry: OutboxEntry): Promise<boolean> => {
      const { runKey: key, batchIndex } = entry.request;
      const blog = baseLog.child({ run: key });
      const started = performance.now();
      try {
        const res = await sender.predict(entry.request, { batch: batchIndex });
        // Order matters for crash safety: ledger and journal first, then drop the outbox file.
        ledger.add(
          entry.request.images.flatMap((img) =>
            img.hash ? [{ hash: img.hash, status: 'classified' as const, id: img.id, run: key }] : [],
          ),
        );
        journal(key).append(rowsFromResponse(entry, res));
        await sendThumbnails(entry, res, blog);
        outbox.remove(name);
        blog.info(res.replayed ? 'batch already recorded; stored answer replayed' : 'batch classified', {
          batch: batchIndex,
          images: entry.request.images.length,
          ...(sender.replicas.size > 1 ? { replica: res.servedBy } : {}),
          ms: Math.round(performance.now() - started),
        });
        return true;
      } catch (e) {
        const err = e instanceof SendError ? e : new SendError('unreachable', (e as Error).message);
        if (!err.retryLater) {
          const to = outbox.reject(name);
          journal(key).append(rowsWithStatus(entry, 'rejected', err.message));
          blog.error(`batch rejected by the API, moved to ${to}`, {
            batch: batchIndex,
            images: entry.request.images.length,
            error: err.message,
          });
        } else if (err.kind === 'auth') {
          if (!refused)
            blog.error(`${err.message}: the run stops here; check API_KEY (client and API must agree), then run again`, {
              batch: batchIndex,
              apiUrl: sender.opts.apiUrl,
            });
          refused = apiDown = err;
          journal(key).append(rowsWithStatus(entry, 'queued', `in outbox: ${err.message}`));
        } else {
          if (!apiDown)
            blog.error(err.kind === 'unreachable' ? `API unreachable after ${c.retries + 1} attempts` : 'API did not accept the batch', {
              batch: batchIndex,
              error: err.message,
            });
          apiDown = err;
          journal(key).append(rowsWithStatus(entry, 'queued', `in outbox: ${err.message}`));
          blog.warn('batch kept in the outbox for the next run', { batch: batchIndex, images: entry.request.images.length, file: name });
        }
        return false;
      }
    };

    // 1. The outbox first: earlier runs' batches, and this run's own if it is resuming.
    let outboxDelivered = 0;
    const waiting = outbox.list();
    if (waiting.length) log.info('sending the outbox first', { batches: waiting.length });
    for (const name of waiting) {
      if (apiDown) break;
      let entry: OutboxEntry;
      try {
        entry = outbox.read(name);
      } catch (e) {
        log.error((e as Error).message, { file: name });
        continue;
      }
      if (await deliver(name, entry)) outboxDelivered++;
    }
    const notSent = apiDown && !refused ? outbox.list().length : 0;
    if (notSent) log.warn('outbox not emptied: API unreachable', { batches: notSent });

    // 2. Scan and classify what is new.
    const pendingHashes = outbox.pendingHashes();
    const seen = new Map<string, string>();
    const batcher = new Batcher(c.batchSize);
    const counts = { found: 0, known: 0, pending: 0, duplicates: 0 };
    const fail = (item: ScanFile | ScanProblem, reason: string, message: string, hash?: string) => {
      journal(runKey).append([
        { file: item.id, group: item.group, status: 'failed', detail: `${reason}: ${message}`, ...(hash ? { hash } : {}) },
      ]);
      if (hash && !FAIL_REASONS_NOT_LEDGERED.has(reason)) ledger.add([{ hash, status: 'failed', id: item.id, run: runKey, reason }]);
      const text =
        reason === 'missing-folder'
          ? 'folder not found'
          : reason === 'symlink-loop'
            ? 'symlink loop skipped'
            : reason === 'bad-list'
              ? 'bad line in a list file'
              : `skipped ${reason} file`;
      log.log(reason === 'missing-folder' ? 'error' : 'warn', text, { file: item.id, reason, detail: message });
    };

    // Started on the first new image: a run with nothing new never boots the workers (seconds).
    let poolReady: Promise<PreprocessPool> | undefined;
    const pool = () =>
      (poolReady ??= opts.pool ? Promise.resolve(opts.pool) : makePool(c.workers, c.maxFileBytes).then((p) => (ownPool = p)));

    const processFile = async (item: ScanFile) => {
      let hash: string;
      try {
        hash = await hashFile(item.path);
      } catch (e) {
        return fail(item, 'unreadable', (e as NodeJS.ErrnoException).code ?? (e as Error).message);
      }
      if (!reprocess && ledger.has(hash)) return void counts.known++;
      if (pendingHashes.has(hash)) return void counts.pending++;
      const first = seen.get(hash);
      if (first !== undefined) {
        counts.duplicates++;
        journal(runKey).append([{ file: item.id, group: item.group, status: 'duplicate', detail: `same content as ${first}`, hash }]);
        log.info('duplicate image skipped', { file: item.id, same: first });
        return;
      }
      seen.set(hash, item.id);
      let pre: { pixels: Uint8Array; kind: string };
      try {
        pre = await (await pool()).run(item.path);
      } catch (e) {
        return fail(item, imageErrorReason(e), (e as Error).message, hash);
      }
      const meta: ImageMeta = {
        id: item.id.slice(0, 512),
        hash,
        ...(item.group ? { group: item.group.slice(0, 256) } : {}),
        ...(item.label !== undefined ? { label: item.label } : {}),
        // Lets the API judge a run of photos against the model card's photo baselines.
        ...(pre.kind === 'photo' || pre.kind === 'dataset' ? { kind: pre.kind } : {}),
      };
      batcher.add(
        meta,
        {
          path: item.path,
          ...(item.orderId !== undefined ? { orderId: item.orderId } : {}),
          ...(item.expected !== undefined ? { expected: item.expected } : {}),
          kind: pre.kind,
        },
        pre.pixels,
      );
    };

    const sending = new Set<Promise<void>>();
    const send = async (batch: Batch) => {
      const batchIndex = run.nextBatchIndex++;
      store.save(run); // the index is spent before it is used: never two bodies under one key
      const request: PredictRequest = { runKey, batchIndex, source: 'client', images: batch.images, pixels: encodePixels(batch.pixels) };
      const entry: OutboxEntry = { version: 1, createdAt: now().toISOString(), request, extras: batch.extras };
      const name = outbox.put(entry);
      if (apiDown) {
        journal(runKey).append(rowsWithStatus(entry, 'queued', `in outbox: ${apiDown.message}`));
        log.warn('batch sent to the outbox (API unreachable)', { batch: batchIndex, images: batch.images.length, file: name });
        return;
      }
      // One batch in flight per replica, so several replicas classify at once; the order of
      // acknowledgements does not matter (each batch is its own outbox file, ledger and journal rows).
      const p: Promise<void> = deliver(name, entry).then(
        () => void sending.delete(p),
        () => void sending.delete(p),
      );
      sending.add(p);
      if (sending.size >= sender.replicas.size) await Promise.race(sending);
    };

    const inflight = new Set<Promise<void>>();
    const limit = Math.max(4, c.workers * 8);
    for await (const item of refused ? [] : scanFolders(roots, { maxFileBytes: c.maxFileBytes, prefixRoot: roots.length > 1 })) {
      if (refused) break; // what is not scanned yet is found again when the run resumes
      counts.found++;
      if (item.kind === 'problem') {
        fail(item, item.reason, item.message);
        continue;
      }
      const p: Promise<void> = processFile(item)
        .catch((e) => fail(item, 'error', (e as Error).message))
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= limit) await Promise.race(inflight);
      while (batcher.full && !refused) await send(batcher.take()!);
    }
    await Promise.all(inflight);
    // Images still in the batcher after a refusal were never ledgered nor queued: the resumed run finds them again.
    for (let b = batcher.take(); b && !refused; b = batcher.take()) await send(b);
    await Promise.all(sending);

    // 3. Finish: this run and any older one whose batches have all been delivered. A refused run
    // stays `running`, so the next invocation resumes it under the same key.
    if (!refused) run.phase = 'finishing';
    run.processMs += performance.now() - t0;
    store.save(run);
    const remaining = outbox.list();
    const rows = journal(runKey).rows();
    let completed = false;
    for (const s of store.all()) {
      if (s.phase !== 'finishing') continue;
      const runRows = s.runKey === runKey ? rows : journal(s.runKey).rows();
      writeResultsCsv(resultsPath(c.results, s.runKey), runRows);
      const prefix = Outbox.runPrefix(s.runKey);
      const waitingForRun = remaining.some((n) => n.startsWith(prefix));
      if (waitingForRun || apiDown) continue;
      const body = {
        failures: runRows.filter((r) => r.status === 'failed' || r.status === 'rejected').length,
        processMs: Math.round(s.processMs),
        imagesSeen: runRows.length,
      };
      try {
        const outcome = s.nextBatchIndex > 0 ? await sender.complete(s.runKey, body) : 'unknown-run';
        if (outcome === 'completed') baseLog.info('run completed on the API', { run: s.runKey, ...body });
        store.remove(s.runKey);
        journal(s.runKey).remove();
        if (s.runKey === runKey) completed = true;
      } catch (e) {
        baseLog.warn('could not complete the run on the API; will retry next run', { run: s.runKey, error: (e as Error).message });
      }
    }

    // 4. Report.
    const by = (st: ResultRow['status']) => rows.filter((r) => r.status === st).length;
    const reviews = Object.fromEntries(
      REVIEW_REASON_ORDER.map((reason) => [reason, rows.filter((r) => r.review === reason).map(describeRow)]),
    ) as Record<ReviewReason, string[]>;
    const report: RunReport = {
      runKey,
      resumed,
      folders: roots,
      ...counts,
      classified: by('classified'),
      queued: by('queued'),
      rejected: by('rejected'),
      failed: by('failed'),
      outboxDelivered,
      outboxRemaining: remaining.length,
      completed,
      resultsPath: resultsPath(c.results, runKey),
      processMs: Math.round(run.processMs),
      reviews,
      delivered: !refused && by('queued') === 0 && by('rejected') === 0 && remaining.length === 0,
      ...(refused ? { stopped: 'auth' as const } : {}),
      summary: '',
    };
    report.summary = summaryLine(report);
    const list = (xs: string[]) => (xs.length > 50 ? [...xs.slice(0, 50), `… ${xs.length - 50} more`] : xs).join('; ');
    log.log(report.delivered ? 'info' : 'error', `run finished: ${report.summary}`, {
      classified: report.classified,
      failed: report.failed,
      queued: report.queued,
      rejected: report.rejected,
      known: report.known,
      duplicates: report.duplicates,
      ms: report.processMs,
      ...Object.fromEntries(REVIEW_REASON_ORDER.flatMap((reason) => (reviews[reason].length ? [[reason, list(reviews[reason])]] : []))),
      results: report.resultsPath,
      ...(sender.replicas.size > 1
        ? { replicas: sender.replicas.replicas.map((r) => `${r.url}=${r.served}${r.up ? '' : '(down)'}`).join(' ') }
        : {}),
    });
    return report;
  } finally {
    sender.close();
    release();
    if (ownPool) await ownPool.close();
  }
}

export function summaryLine(r: RunReport): string {
  const parts = [`${r.classified} classified`, `${r.failed} bad files`, `${r.known} already done`];
  if (r.duplicates) parts.push(`${r.duplicates} duplicates`);
  const toReview = REVIEW_REASON_ORDER.filter((reason) => r.reviews[reason].length);
  if (toReview.length) parts.push(`to review: ${toReview.map((reason) => `${r.reviews[reason].length} ${reason}`).join(', ')}`);
  if (r.outboxDelivered) parts.push(`${r.outboxDelivered} outbox batches delivered`);
  const tail = r.stopped
    ? ` — STOPPED: the API refused the credentials (check API_KEY); ${r.outboxRemaining} batches kept in the outbox`
    : r.delivered
      ? ''
      : ` — NOT DELIVERED: ${r.queued} images queued, ${r.rejected} rejected, ${r.outboxRemaining} batches in the outbox`;
  return `run ${r.runKey}${r.resumed ? ' (resumed)' : ''}: ${parts.join(', ')} in ${(r.processMs / 1000).toFixed(1)} s → ${r.resultsPath}${tail}`;
}

async function makePool(size: number, maxBytes: number): Promise<PreprocessPool> {
  // Loaded on demand so the scheduler and CLIs start without spinning up decoders.
  const mod = (await import('@refund-vision/preprocess')) as unknown as {
    createPreprocessPool?: (o: { size: number; maxBytes: number }) => PreprocessPool;
    preprocessImage: (path: string) => Promise<{ pixels: Uint8Array; kind: string }>;
  };
  if (mod.createPreprocessPool) return mod.createPreprocessPool({ size, maxBytes });
  // Without the worker pool, decode on this thread; the run's in-flight limit still bounds memory.
  return { run: (path) => mod.preprocessImage(path), close: () => {} };
}
