/**
 * Reviewed items as training data (`pnpm train --with-reviews`): fetched from the API that holds the
 * review decisions (so training works the same against SQLite or a shared Postgres), split by a hash
 * of each item's id so the same items stay held back run after run, and the held-back share written
 * beside the trained model for the evaluation gate.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePixels, PIXELS_PER_IMAGE, TrainingSetResponse, type ReviewedItem } from '@refund-vision/shared';
import { REVIEW_HOLDOUT_FILE, type ReviewHoldout } from './gate-sets.ts';

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
  const file: ReviewHoldout = {
    createdAt: new Date().toISOString(),
    share,
    items: holdout.map((it) => ({ id: it.id, pixels: it.pixels, classIndex: it.classIndex })),
  };
  writeFileSync(join(dir, REVIEW_HOLDOUT_FILE), JSON.stringify(file));
  return file;
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
