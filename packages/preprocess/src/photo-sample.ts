/**
 * A fixed, varied sample of the real clothing photos (../shared/data/clothing-photos, CC0, from
 * https://github.com/alexeygrigorev/clothing-dataset) for looking at and measuring what the
 * preprocessing makes of real photos. Used by the photo CLIs and the segmentation tests; never
 * copies the photos anywhere.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '@refund-vision/shared';
import { PHOTO_LABELS, photoCandidateDirs, readClothingPhotos } from '@refund-vision/model';

export interface PhotoRow {
  id: string;
  label: string;
  sender: string;
  path: string;
}

/** The model package's folders (CLOTHING_PHOTOS_DIR, the shared data folder, data/): the first holding a copy; never downloads. */
export function clothingPhotosDir(): string | undefined {
  return photoCandidateDirs().find((d) => existsSync(join(d, 'labels.csv')));
}

/** The photos with a usable label (the model package's loader; checksums are not verified here: this only samples). */
export function readPhotoRows(dir: string): PhotoRow[] {
  return readClothingPhotos(dir, { verify: false }).photos.map((p) => ({ id: p.id, label: p.label, sender: p.senderId, path: p.file }));
}

/** In-scope labels → the Fashion-MNIST classes each can honestly be (the model package's table). */
export const LABEL_CLASSES: Readonly<Record<string, readonly number[]>> = Object.fromEntries(
  Object.entries(PHOTO_LABELS).flatMap(([label, t]) => (t.kind === 'classes' ? [[label, t.classes]] : [])),
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
