/**
 * A fixed, varied sample of the real clothing photos (../shared/data/clothing-photos, CC0, from
 * https://github.com/alexeygrigorev/clothing-dataset) for looking at and measuring what the
 * preprocessing makes of real photos. Used by the photo CLIs and the segmentation tests; never
 * copies the photos anywhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { classIndexOf, parseCsv, projectRoot, seededRandom } from '@refund-vision/shared';

export interface PhotoRow {
  id: string;
  label: string;
  sender: string;
  path: string;
}

/** CLOTHING_PHOTOS_DIR, else the shared data folder beside the checkout; undefined when absent. */
export function clothingPhotosDir(): string | undefined {
  const candidates = [process.env.CLOTHING_PHOTOS_DIR, resolve(projectRoot(), '..', 'shared', 'data', 'clothing-photos')];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'labels.csv')));
}

export function readPhotoRows(dir: string): PhotoRow[] {
  const [header, ...rows] = parseCsv(readFileSync(join(dir, 'labels.csv'), 'utf8'));
  const col = (name: string) => {
    const i = header!.indexOf(name);
    if (i < 0) throw new Error(`${join(dir, 'labels.csv')}: no column ${name}`);
    return i;
  };
  const [image, label, sender] = [col('image'), col('label'), col('sender_id')];
  return rows
    .filter((r) => r.length > sender)
    .map((r) => ({ id: r[image]!, label: r[label]!, sender: r[sender]!, path: join(dir, 'images', `${r[image]}.jpg`) }));
}

/**
 * The Fashion-MNIST classes each label can honestly be (the dataset README's table); labels with
 * no class (Shorts, Skirt, Hat, Body, Other, Not sure, Skip) are absent.
 */
export const LABEL_CLASSES: Readonly<Record<string, readonly number[]>> = Object.fromEntries(
  Object.entries({
    'T-Shirt': ['T-shirt/top'],
    Top: ['T-shirt/top'],
    Undershirt: ['T-shirt/top'],
    Polo: ['T-shirt/top', 'Shirt'],
    Longsleeve: ['T-shirt/top', 'Pullover', 'Shirt'],
    Hoodie: ['Pullover'],
    Shirt: ['Shirt'],
    Blouse: ['Shirt', 'T-shirt/top'],
    Outwear: ['Coat'],
    Blazer: ['Coat'],
    Pants: ['Trouser'],
    Dress: ['Dress'],
    Shoes: ['Sandal', 'Sneaker', 'Ankle boot'],
  }).map(([label, names]) => [label, names.map((n) => classIndexOf(n)!)]),
);

/**
 * n photos, the same every time: labels taken in turn (so rare labels are represented), and
 * within a label, senders in turn (photos of one sender share a background), each list shuffled
 * with a fixed seed.
 */
export function pickPhotos(rows: PhotoRow[], n: number, opts: { seed?: number; labels?: readonly string[] } = {}): PhotoRow[] {
  const rand = seededRandom(opts.seed ?? 9);
  const shuffle = <T>(a: T[]): T[] => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const byLabel = new Map<string, PhotoRow[][]>();
  for (const label of [...new Set(rows.map((r) => r.label))].sort()) {
    if (opts.labels && !opts.labels.includes(label)) continue;
    const bySender = new Map<string, PhotoRow[]>();
    for (const r of rows) if (r.label === label) bySender.set(r.sender, [...(bySender.get(r.sender) ?? []), r]);
    // Senders in turn: one photo from each sender, then a second from each, …
    const queue: PhotoRow[] = [];
    const lists = shuffle([...bySender.values()].map((l) => shuffle([...l])));
    for (let k = 0; queue.length < lists.reduce((s, l) => s + l.length, 0); k++) for (const l of lists) if (l[k]) queue.push(l[k]!);
    byLabel.set(label, [queue]);
  }
  const queues = [...byLabel.values()].map(([q]) => q!);
  const out: PhotoRow[] = [];
  for (let k = 0; out.length < n && queues.some((q) => q.length > k); k++)
    for (const q of queues) if (q[k] && out.length < n) out.push(q[k]!);
  return out;
}
