/**
 * How the upload route turns files into 28×28 pixels without putting the server at risk:
 * - decoding runs in the preprocess package's worker pool (the one the client uses), never on the
 *   request thread, so probes and other requests keep being answered while a form is decoded;
 * - each pool worker decodes one image at a time, which bounds the memory of all uploads in
 *   flight, whatever the number of requests, to `decodeWorkers` decodes;
 * - a decode that takes longer than `decodeTimeoutMs` is abandoned and its worker replaced;
 * - before anything is queued, the header of every file is checked on the request thread (cheap):
 *   the per-image pixel limit, completeness, the bomb check (declared pixels far beyond the file's bytes) and
 *   the request's total pixel budget, so a 17 KB form cannot queue gigapixels of work.
 * The image modules are loaded after the server is ready (preload), never on the start-up path;
 * the worker threads start with the first upload.
 */
import type { Config, Logger } from '@refund-vision/shared';
import type { Preprocessed, PreprocessPool } from '@refund-vision/preprocess';

type PreprocessModule = typeof import('@refund-vision/preprocess');

export interface HeaderCheck {
  ok: boolean;
  /** Declared (display) pixels, when the header could be read. */
  pixels: number;
  code?: string;
  message?: string;
}

export interface UploadDecoder {
  /** Header checks for one request's files, in order; a file past the request's budget is refused. */
  check(files: Buffer[]): Promise<HeaderCheck[]>;
  decode(buf: Buffer): Promise<Preprocessed>;
  preload(): Promise<void>;
  close(): Promise<void>;
}

export function createUploadDecoder(api: Config['api'], logger: Logger): UploadDecoder {
  let mod: Promise<PreprocessModule> | undefined;
  let pool: PreprocessPool | undefined;
  let closed = false;
  const load = () => (mod ??= import('@refund-vision/preprocess'));
  const getPool = async () => {
    const m = await load();
    if (closed) throw new Error('the upload decoder is closed');
    return (pool ??= m.createPreprocessPool({
      size: api.decodeWorkers,
      perWorker: 1,
      taskTimeoutMs: api.decodeTimeoutMs,
      maxPixels: api.maxImagePixels,
      maxBytes: api.uploadMaxBytes,
    }));
  };

  return {
    async check(files) {
      const { inspectImage, assertPixels, assertComplete, assertPlausibleSize, ImageError } = await load();
      let budget = api.uploadMaxTotalPixels;
      return files.map((buf) => {
        let pixels = 0;
        try {
          const info = inspectImage(buf);
          pixels = info.width * info.height;
          assertPixels(info, api.maxImagePixels);
          assertComplete(buf, info.format);
          assertPlausibleSize(info, buf.length);
          if (pixels > budget) {
            return {
              ok: false,
              pixels,
              code: 'too-large',
              message: `${(pixels / 1e6).toFixed(1)} MP would pass this request's budget of ${(api.uploadMaxTotalPixels / 1e6).toFixed(0)} MP for all its images together; send it in another request`,
            };
          }
          budget -= pixels;
          return { ok: true, pixels };
        } catch (e) {
          if (e instanceof ImageError) return { ok: false, pixels, code: e.reason, message: e.message };
          throw e;
        }
      });
    },
    async decode(buf) {
      return (await getPool()).runBuffer(buf);
    },
    async preload() {
      // The modules only: the worker threads (tens of MB each) start with the first upload.
      await load();
    },
    async close() {
      closed = true;
      const p = pool;
      pool = undefined;
      await p?.close().catch((e) => logger.warn('closing the upload decode pool failed', { error: (e as Error).message }));
    },
  };
}
