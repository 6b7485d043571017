/**
 * A small photo of an item for the review queue: at most THUMBNAIL_SIDE pixels on its long side,
 * WebP, EXIF orientation applied — a few KB, so a person can judge the item itself. Made only for
 * images the API flagged for review. Needs sharp; without it there is no thumbnail (undefined) and
 * the item stays reviewable from its 28×28.
 */
import { loadSharp } from './decode-sharp.ts';

export const THUMBNAIL_SIDE = 160;

export interface Thumbnail {
  type: 'image/webp';
  data: Buffer;
}

export async function makeThumbnail(input: string | Uint8Array, side = THUMBNAIL_SIDE): Promise<Thumbnail | undefined> {
  const sharp = await loadSharp();
  if (!sharp) return undefined;
  const data = await sharp(input, { failOn: 'none', limitInputPixels: 200_000_000 })
    .rotate()
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .webp({ quality: 60, effort: 2 })
    .toBuffer();
  return { type: 'image/webp', data };
}
