/** Fashion-MNIST label order: index i is the dataset's label i. */
export const CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** The old Flask API's spelling; its clients compare strings, so keep it byte for byte. */
export const LEGACY_CLASS_NAMES: readonly string[] = CLASS_NAMES.map((n) => (n === 'T-shirt/top' ? 'T-shirt/Top' : n));

export type ClassName = (typeof CLASS_NAMES)[number];
export const NUM_CLASSES = CLASS_NAMES.length;
export const IMAGE_SIZE = 28;
export const PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE;

/**
 * Accepts a class index, the canonical name, the legacy name, or a loose spelling
 * ("t-shirt", "ankle_boot", "ANKLE BOOT"); returns the index or undefined.
 */
export function classIndexOf(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value < NUM_CLASSES ? value : undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return classIndexOf(Number(v));
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z]/g, '');
  const n = norm(v);
  if (!n) return undefined;
  const i = CLASS_NAMES.findIndex((c) => norm(c) === n || norm(c.split('/')[0]!) === n);
  if (i >= 0) return i;
  const aliases: Record<string, number> = {
    tshirt: 0,
    top: 0,
    tee: 0,
    trousers: 1,
    pants: 1,
    sneakers: 7,
    boot: 9,
    boots: 9,
    sandals: 5,
    bags: 8,
    dresses: 3,
    coats: 4,
    shirts: 6,
    pullovers: 2,
    sweater: 2,
  };
  return aliases[n];
}

export interface Ranked {
  classIndex: number;
  className: ClassName;
  confidence: number;
}

/** The k most probable classes of row `row` in an N×10 probability matrix. */
export function topK(probs: ArrayLike<number>, row: number, k = 3): Ranked[] {
  const base = row * NUM_CLASSES;
  const idx = Array.from({ length: NUM_CLASSES }, (_, i) => i);
  idx.sort((a, b) => probs[base + b]! - probs[base + a]!);
  return idx.slice(0, k).map((i) => ({ classIndex: i, className: CLASS_NAMES[i]!, confidence: probs[base + i]! }));
}
