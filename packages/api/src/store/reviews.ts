/**
 * The review queue. Items are written with their batch (runs.ts); here they are listed in queue
 * order, claimed with an expiring lease, decided, and read back for training.
 *
 * Claims: two reviewers never hold the same item. On PostgreSQL the candidate row is taken with
 * FOR UPDATE SKIP LOCKED, so concurrent claimers pass over each other's rows instead of queueing on
 * them; on SQLite the write transaction is exclusive (BEGIN IMMEDIATE). On both, the UPDATE repeats
 * the "free or expired" condition, so a claim only ever lands on an item nobody else holds.
 *
 * Decisions are append-only rows (a correction or an undo is a new row naming the one before).
 * The item's `decided` flag and the prediction's feedback follow the latest decision, so measured
 * accuracy (feedback) always uses it; "none of these" is feedback without a class, a miss.
 */
import type { Kysely, Selectable } from 'kysely';
import { CLASS_NAMES, type ReviewReason, type TopK } from '@refund-vision/shared';
import type { StoreKind } from './migrations/context.ts';
import type { ReviewDecisionsTable, Tables } from './tables.ts';

export type ReviewStatus = 'open' | 'decided' | 'all';

export interface ReviewQuery {
  status?: ReviewStatus | undefined;
  reason?: ReviewReason | undefined;
  runId?: number | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface ReviewDecisionRow {
  id: number;
  itemId: number;
  decision: 'class' | 'none' | 'undo';
  classIndex: number | null;
  className: string | null;
  decidedBy: string;
  decidedAt: string;
  secondsSpent: number | null;
  modelVersion: string;
  previousId: number | null;
  /** For the audit trail: the file the item came from. */
  imageId: string;
}

export interface ReviewItem {
  /** The prediction's id. */
  id: number;
  runId: number;
  runKey: string;
  imageId: string;
  group: string | null;
  reason: ReviewReason;
  priority: number;
  classIndex: number;
  className: string;
  confidence: number;
  top3: TopK[];
  /** The order's expected class (the label sent with the image), when known. */
  expected: number | null;
  modelVersion: string;
  hasThumbnail: boolean;
  claimedBy: string | null;
  claimExpiresAt: string | null;
  decided: boolean;
  /** The latest decision row, when there is one (an undo included). */
  latest: ReviewDecisionRow | null;
  createdAt: string;
}

export interface ReviewItemDetail extends ReviewItem {
  /** base64 of the 784 bytes the model saw. */
  pixels: string;
  thumbnail: { type: string; data: string } | null;
}

export type DecisionInput =
  | { decision: 'class'; classIndex: number; by: string; secondsSpent?: number | undefined }
  | { decision: 'none'; by: string; secondsSpent?: number | undefined }
  | { decision: 'undo'; by: string; secondsSpent?: number | undefined };

export type DecisionOutcome =
  | { outcome: 'decided'; item: ReviewItem; decision: ReviewDecisionRow }
  | { outcome: 'not-found' }
  | { outcome: 'claimed-by-other'; claimedBy: string; until: string }
  | { outcome: 'nothing-to-undo' };

const REASON_RANK = { mismatch: 0, 'out-of-scope': 1, 'low-confidence': 2 } as const;

export class ReviewsRepository {
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly kind: StoreKind,
  ) {}

  private itemQuery(db: Kysely<Tables> = this.db) {
    return (
      db
        .selectFrom('review_items as i')
        .innerJoin('predictions as p', 'p.id', 'i.prediction_id')
        .innerJoin('runs as r', 'r.id', 'i.run_id')
        .innerJoin('batches as b', 'b.id', 'p.batch_id')
        .select([
          'i.prediction_id',
          'i.run_id',
          'r.run_key',
          'p.image_id',
          'p.image_group',
          'i.reason',
          'i.priority',
          'p.class_index',
          'p.confidence',
          'p.top3_json',
          'p.label',
          'i.claimed_by',
          'i.claim_expires_at',
          'i.decided',
          'i.created_at',
        ])
        .select((eb) => eb('i.thumbnail', 'is not', null).as('has_thumbnail'))
        // The version that answered the batch (a hot swap can change it inside a run).
        .select((eb) => eb.fn.coalesce('b.model_version', 'r.model_version').as('model_version'))
    );
  }

  /** Queue order: mismatches, out-of-scope, low confidence; within each, lowest priority first. */
  private ordered<Q extends { orderBy: (...a: any[]) => any }>(q: Q): Q {
    return (q as any)
      .orderBy((eb: any) =>
        eb
          .case()
          .when('i.reason', '=', 'mismatch')
          .then(REASON_RANK.mismatch)
          .when('i.reason', '=', 'out-of-scope')
          .then(REASON_RANK['out-of-scope'])
          .else(REASON_RANK['low-confidence'])
          .end(),
      )
      .orderBy('i.priority')
      .orderBy('i.prediction_id');
  }

  async list(query: ReviewQuery = {}): Promise<{ items: ReviewItem[]; total: number }> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 10_000);
    let q = this.itemQuery();
    let count = this.db.selectFrom('review_items as i').select((eb) => eb.fn.countAll<number>().as('n'));
    const status = query.status ?? 'open';
    if (status !== 'all') {
      q = q.where('i.decided', '=', status === 'decided' ? 1 : 0);
      count = count.where('i.decided', '=', status === 'decided' ? 1 : 0);
    }
    if (query.reason) {
      q = q.where('i.reason', '=', query.reason);
      count = count.where('i.reason', '=', query.reason);
    }
    if (query.runId !== undefined) {
      q = q.where('i.run_id', '=', query.runId);
      count = count.where('i.run_id', '=', query.runId);
    }
    const rows = await this.ordered(q)
      .limit(limit)
      .offset(query.offset ?? 0)
      .execute();
    const total = Number((await count.executeTakeFirstOrThrow()).n);
    return { items: await this.withLatest(rows), total };
  }

  async get(id: number): Promise<ReviewItemDetail | undefined> {
    const row = await this.itemQuery()
      .select(['i.pixels', 'i.thumbnail', 'i.thumbnail_type'])
      .where('i.prediction_id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const [item] = await this.withLatest([row]);
    return {
      ...item!,
      pixels: row.pixels,
      thumbnail: row.thumbnail && row.thumbnail_type ? { type: row.thumbnail_type, data: row.thumbnail } : null,
    };
  }

  /**
   * Claims the next open item in queue order that nobody else holds (or whose lease ran out), for
   * `leaseSeconds`. A reviewer's own claim counts as free to them. `exclude`: items this reviewer
   * skipped. Undefined when nothing is left.
   */
  async claimNext(reviewer: string, leaseSeconds: number, exclude: number[] = [], now = new Date()): Promise<ReviewItem | undefined> {
    const at = now.toISOString();
    const until = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = await this.db.transaction().execute(async (trx) => {
        let q = trx
          .selectFrom('review_items as i')
          .select('i.prediction_id')
          .where('i.decided', '=', 0)
          .where((eb) => eb.or([eb('i.claimed_by', 'is', null), eb('i.claim_expires_at', '<', at), eb('i.claimed_by', '=', reviewer)]));
        if (exclude.length) q = q.where('i.prediction_id', 'not in', exclude);
        let ordered = this.ordered(q).limit(1);
        if (this.kind === 'postgres') ordered = ordered.forUpdate().skipLocked();
        const row = await ordered.executeTakeFirst();
        if (!row) return null;
        const claimed = await this.claimIn(trx, row.prediction_id, reviewer, at, until);
        return claimed ? row.prediction_id : undefined;
      });
      if (id === null) return undefined;
      if (id !== undefined) return (await this.get(id))!;
    }
    return undefined;
  }

  /** Claims one item; false when another reviewer holds an unexpired lease on it (or it is not there). */
  async claim(id: number, reviewer: string, leaseSeconds: number, now = new Date()): Promise<boolean> {
    const until = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
    return this.claimIn(this.db, id, reviewer, now.toISOString(), until);
  }

  private async claimIn(db: Kysely<Tables>, id: number, reviewer: string, at: string, until: string): Promise<boolean> {
    const res = await db
      .updateTable('review_items')
      .set({ claimed_by: reviewer, claim_expires_at: until })
      .where('prediction_id', '=', id)
      .where((eb) => eb.or([eb('claimed_by', 'is', null), eb('claim_expires_at', '<', at), eb('claimed_by', '=', reviewer)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Gives an item back (skip): only the holder's claim is released. */
  async release(id: number, reviewer: string): Promise<boolean> {
    const res = await this.db
      .updateTable('review_items')
      .set({ claimed_by: null, claim_expires_at: null })
      .where('prediction_id', '=', id)
      .where('claimed_by', '=', reviewer)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * Appends a decision. Refused while another reviewer holds an unexpired claim on the item. The
   * decider's own claim is released: the item is done (or, after an undo, back in the queue).
   */
  async decide(id: number, input: DecisionInput, now = new Date()): Promise<DecisionOutcome> {
    const at = now.toISOString();
    const result = await this.db.transaction().execute(async (trx): Promise<DecisionOutcome | number> => {
      let q = trx
        .selectFrom('review_items as i')
        .innerJoin('runs as r', 'r.id', 'i.run_id')
        .innerJoin('predictions as p', 'p.id', 'i.prediction_id')
        .innerJoin('batches as b', 'b.id', 'p.batch_id')
        .select(['i.prediction_id', 'i.claimed_by', 'i.claim_expires_at'])
        .select((eb) => eb.fn.coalesce('b.model_version', 'r.model_version').as('model_version'))
        .where('i.prediction_id', '=', id);
      if (this.kind === 'postgres') q = q.forUpdate('i');
      const item = await q.executeTakeFirst();
      if (!item) return { outcome: 'not-found' };
      if (item.claimed_by && item.claimed_by !== input.by && item.claim_expires_at && item.claim_expires_at >= at) {
        return { outcome: 'claimed-by-other', claimedBy: item.claimed_by, until: item.claim_expires_at };
      }
      const previous = await trx
        .selectFrom('review_decisions')
        .select(['id', 'decision'])
        .where('prediction_id', '=', id)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (input.decision === 'undo' && (!previous || previous.decision === 'undo')) return { outcome: 'nothing-to-undo' };
      const inserted = await trx
        .insertInto('review_decisions')
        .values({
          prediction_id: id,
          decision: input.decision,
          class_index: input.decision === 'class' ? input.classIndex : null,
          decided_by: input.by,
          decided_at: at,
          seconds_spent: input.secondsSpent ?? null,
          model_version: item.model_version,
          previous_id: previous?.id ?? null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('review_items')
        .set({ decided: input.decision === 'undo' ? 0 : 1, claimed_by: null, claim_expires_at: null })
        .where('prediction_id', '=', id)
        .execute();
      // Measured accuracy follows the latest decision: a class is the prediction's feedback, and
      // "none of these" is feedback with no class (NULL): no class can be right, so the model's
      // answer was wrong and must count as a miss. An undo leaves the prediction without feedback.
      if (input.decision === 'undo') {
        await trx.deleteFrom('feedback').where('prediction_id', '=', id).execute();
      } else {
        await trx
          .insertInto('feedback')
          .values({ prediction_id: id, correct_class: input.decision === 'class' ? input.classIndex : null, created_at: at })
          .onConflict((oc) =>
            oc
              .column('prediction_id')
              .doUpdateSet((eb) => ({ correct_class: eb.ref('excluded.correct_class'), created_at: eb.ref('excluded.created_at') })),
          )
          .execute();
      }
      return inserted.id;
    });
    if (typeof result !== 'number') return result;
    const item = (await this.get(id))!;
    return { outcome: 'decided', item, decision: item.latest! };
  }

  /** The audit trail, newest first. */
  async decisions(query: { limit?: number | undefined; itemId?: number | undefined } = {}): Promise<ReviewDecisionRow[]> {
    let q = this.db
      .selectFrom('review_decisions as d')
      .innerJoin('predictions as p', 'p.id', 'd.prediction_id')
      .selectAll('d')
      .select('p.image_id');
    if (query.itemId !== undefined) q = q.where('d.prediction_id', '=', query.itemId);
    const rows = await q
      .orderBy('d.id', 'desc')
      .limit(Math.min(Math.max(query.limit ?? 200, 1), 10_000))
      .execute();
    return rows.map(toDecision);
  }

  /** Every item whose latest decision stands, with it: `pnpm train --with-reviews` reads these. */
  async trainingSet(): Promise<
    { id: number; pixels: string; classIndex: number | null; decidedAt: string; decidedBy: string; modelVersion: string }[]
  > {
    const rows = await this.db
      .selectFrom('review_items as i')
      .innerJoin('review_decisions as d', 'd.prediction_id', 'i.prediction_id')
      .select(['i.prediction_id', 'i.pixels', 'd.decision', 'd.class_index', 'd.decided_at', 'd.decided_by', 'd.model_version'])
      .where('i.decided', '=', 1)
      .where('d.id', '=', (eb) =>
        eb
          .selectFrom('review_decisions as d2')
          .select((e) => e.fn.max('d2.id').as('m'))
          .whereRef('d2.prediction_id', '=', 'i.prediction_id'),
      )
      .orderBy('i.prediction_id')
      .execute();
    return rows.map((r) => ({
      id: r.prediction_id,
      pixels: r.pixels,
      classIndex: r.decision === 'class' ? r.class_index : null,
      decidedAt: r.decided_at,
      decidedBy: r.decided_by,
      modelVersion: r.model_version,
    }));
  }

  /** Stores the client's thumbnail; false when there is no such item. */
  async setThumbnail(id: number, type: string, data: string): Promise<boolean> {
    const res = await this.db
      .updateTable('review_items')
      .set({ thumbnail: data, thumbnail_type: type })
      .where('prediction_id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async saliency(id: number): Promise<number[] | null | undefined> {
    const row = await this.db.selectFrom('review_items').select('saliency_json').where('prediction_id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    return row.saliency_json ? (JSON.parse(row.saliency_json) as number[]) : null;
  }

  async setSaliency(id: number, values: number[]): Promise<void> {
    await this.db
      .updateTable('review_items')
      .set({ saliency_json: JSON.stringify(values) })
      .where('prediction_id', '=', id)
      .execute();
  }

  private async withLatest(
    rows: {
      prediction_id: number;
      run_id: number;
      run_key: string;
      model_version: string;
      image_id: string;
      image_group: string | null;
      reason: ReviewReason;
      priority: number;
      class_index: number;
      confidence: number;
      top3_json: string;
      label: number | null;
      claimed_by: string | null;
      claim_expires_at: string | null;
      decided: number;
      created_at: string;
      has_thumbnail: unknown;
    }[],
  ): Promise<ReviewItem[]> {
    const ids = rows.map((r) => r.prediction_id);
    const latest = new Map<number, ReviewDecisionRow>();
    if (ids.length) {
      const decided = await this.db
        .selectFrom('review_decisions as d')
        .innerJoin('predictions as p', 'p.id', 'd.prediction_id')
        .selectAll('d')
        .select('p.image_id')
        .where('d.prediction_id', 'in', ids)
        .orderBy('d.id')
        .execute();
      for (const d of decided) latest.set(d.prediction_id, toDecision(d));
    }
    return rows.map((r) => ({
      id: r.prediction_id,
      runId: r.run_id,
      runKey: r.run_key,
      imageId: r.image_id,
      group: r.image_group,
      reason: r.reason,
      priority: r.priority,
      classIndex: r.class_index,
      className: CLASS_NAMES[r.class_index]!,
      confidence: r.confidence,
      top3: JSON.parse(r.top3_json) as TopK[],
      expected: r.label,
      modelVersion: r.model_version,
      hasThumbnail: r.has_thumbnail === true || r.has_thumbnail === 1,
      claimedBy: r.claimed_by,
      claimExpiresAt: r.claim_expires_at,
      decided: r.decided === 1,
      latest: latest.get(r.prediction_id) ?? null,
      createdAt: r.created_at,
    }));
  }
}

function toDecision(d: Selectable<ReviewDecisionsTable> & { image_id: string }): ReviewDecisionRow {
  return {
    id: d.id,
    itemId: d.prediction_id,
    decision: d.decision,
    classIndex: d.class_index,
    className: d.class_index === null ? null : CLASS_NAMES[d.class_index]!,
    decidedBy: d.decided_by,
    decidedAt: d.decided_at,
    secondsSpent: d.seconds_spent,
    modelVersion: d.model_version,
    previousId: d.previous_id,
    imageId: d.image_id,
  };
}
