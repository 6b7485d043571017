/** Why an input could not become a 28×28 image. Callers log the reason and move on to the next file. */
export type ImageErrorReason = 'empty' | 'not-image' | 'unsupported' | 'corrupt' | 'too-large' | 'unreadable';

export const IMAGE_ERROR_REASONS: readonly ImageErrorReason[] = ['empty', 'not-image', 'unsupported', 'corrupt', 'too-large', 'unreadable'];

export class ImageError extends Error {
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

export function isImageErrorReason(v: unknown): v is ImageErrorReason {
  return typeof v === 'string' && (IMAGE_ERROR_REASONS as readonly string[]).includes(v);
}

/** Maps a failed fs call on an input path to `unreadable`; anything else is rethrown as is. */
export function fsError(e: unknown, path: string): ImageError {
  const code = (e as NodeJS.ErrnoException)?.code ?? 'EIO';
  const why: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EISDIR: 'is a directory',
    ELOOP: 'symbolic link loop',
    ENAMETOOLONG: 'name too long',
    ENOTDIR: 'a parent is not a directory',
  };
  return new ImageError('unreadable', `${path}: cannot read (${why[code] ?? code})`);
}
