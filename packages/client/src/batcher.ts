/** Packs preprocessed images into batches of at most N×784 bytes, the compact wire format. */
import { PIXELS_PER_IMAGE, type ImageMeta } from '@refund-vision/shared';

/** What the results CSV needs about an image that the wire request does not carry. */
export interface ImageExtra {
  path: string;
  orderId?: string;
  expected?: number;
  kind?: string;
}

export interface Batch {
  images: ImageMeta[];
  extras: ImageExtra[];
  pixels: Uint8Array;
}

interface Item {
  meta: ImageMeta;
  extra: ImageExtra;
  pixels: Uint8Array;
}

/**
 * A queue that hands out full batches. It may briefly hold more than one batch while images
 * finish preprocessing during a send; memory stays bounded by batch size + images in flight.
 */
export class Batcher {
  private items: Item[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  }

  get length(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.size;
  }

  add(meta: ImageMeta, extra: ImageExtra, pixels: Uint8Array): void {
    if (pixels.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${pixels.length}`);
    this.items.push({ meta, extra, pixels });
  }

  /** Removes and returns the oldest `size` images (fewer at the end), or undefined when empty. */
  take(): Batch | undefined {
    if (!this.items.length) return undefined;
    const chunk = this.items.splice(0, this.size);
    const pixels = new Uint8Array(chunk.length * PIXELS_PER_IMAGE);
    chunk.forEach((it, i) => pixels.set(it.pixels, i * PIXELS_PER_IMAGE));
    return { images: chunk.map((c) => c.meta), extras: chunk.map((c) => c.extra), pixels };
  }
}
