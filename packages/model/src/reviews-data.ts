/**
 * Reviewed items as training data (`pnpm train --with-reviews`): fetched from the API that holds the
 * review decisions (so training works the same against SQLite or a shared Postgres), split by a hash
 * of each item's id so the same items stay held back run after run, and the held-back share written
 * beside the trained model for the evaluation gate.
 */
import { createHash } from 'node:crypto';
import { decodePixels, PIXELS_PER_IMAGE, TrainingSetResponse, type ReviewedItem } from '@refund-vision/shared';
import { readReviewHoldout, writeHoldoutFile, type ReviewHoldout } from './gate-sets.ts';

export async function fetchReviewedItems(apiUrl: string, apiKey?: string): Promise<ReviewedItem[]> {
  const url = `${apiUrl.replace(/\/+$/, '')}/v1/reviews/training-set`;
  let res: Response;
  try {
    res = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    throw new Error(`cannot fetch reviewed items from ${url}: ${(e as Error).message} (is the API running? API_URL names it)`);
  }
  if (!res.ok) throw new Error(`cannot fetch reviewed items from ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return TrainingSetResponse.parse(await res.json()).items;
}

/** Deterministic: an item is held back when the first 32 bits of sha-256(id) fall in the share. */
export function isHeldBack(id: string, share: number): boolean {
  const h = createHash('sha256').update(id).digest().readUInt32BE(0);
  return h / 2 ** 32 < share;
}

export function splitReviews(items: ReviewedItem[], share: number): { train: ReviewedItem[]; holdout: ReviewedItem[] } {
  if (!(share >= 0 && share < 1)) throw new RangeError(`held-back share must be in [0, 1), got ${share}`);
  const train: ReviewedItem[] = [];
  const holdout: ReviewedItem[] = [];
  for (const it of items) (isHeldBack(it.id, share) ? holdout : train).push(it);
  return { train, holdout };
}

export function writeReviewHoldout(dir: string, holdout: ReviewedItem[], share: number): ReviewHoldout {
  return writeHoldoutFile(dir, {
    createdAt: new Date().toISOString(),
    share,
    items: holdout.map((it) => ({ id: it.id, pixels: it.pixels, classIndex: it.classIndex })),
  });
}

/**
 * The held-back reviews of models that are combined into one (`pnpm train:ensemble`): an item is held
 * back by every member that trained on reviews when its hash falls under the smallest share among
 * them (a member that trained on none held back all), so the combined model's gate set is the union of
 * the members' held-back items that pass that share. Null when no member trained on reviews.
 */
export function mergeReviewHoldouts(dirs: readonly string[]): ReviewHoldout | null {
  const files = dirs.map((d) => readReviewHoldout(d)).filter((h): h is ReviewHoldout => h !== null);
  if (!files.length) return null;
  const share = Math.min(...files.map((f) => f.share));
  const items = new Map<string, ReviewHoldout['items'][number]>();
  for (const f of files) for (const it of f.items) if (isHeldBack(it.id, share) && !items.has(it.id)) items.set(it.id, it);
  return { createdAt: new Date().toISOString(), share, items: [...items.values()] };
}

/** Reviewed items as arrays: the 28×28s, and per item its class, or null for out of scope. */
export function reviewArrays(items: ReviewedItem[]): { pixels: Uint8Array; classes: Array<number | null> } {
  const pixels = new Uint8Array(items.length * PIXELS_PER_IMAGE);
  items.forEach((it, i) => {
    const px = decodePixels(it.pixels);
    if (px.length !== PIXELS_PER_IMAGE) throw new Error(`reviewed item ${it.id}: ${px.length} pixels, expected ${PIXELS_PER_IMAGE}`);
    pixels.set(px, i * PIXELS_PER_IMAGE);
  });
  return { pixels, classes: items.map((it) => it.classIndex) };
}
