/**
 * POST /v1/predict/image — multipart upload of image files (any field name). Each file goes through
 * the same preprocessing as the client (shared preprocess package), decoded in its worker pool
 * (upload-decoder.ts): a file whose header declares more than `api.maxImagePixels`, far more pixels
 * than its bytes can hold, or more than is left of the request's `api.uploadMaxTotalPixels`, is
 * refused before it is decoded. The answer has one entry per file, in upload order: the top 3, or
 * that file's error. Good files are recorded as one completed run (source 'upload'); when no file
 * could be read the request is a 400 with every file's reason.
 */
import { Router, type Request, type Response } from 'express';
import multer from 'multer';
import { AppError, badRequest, CLASS_NAMES, PIXELS_PER_IMAGE, type ReviewReason, type TopK } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { arrivedAt } from '../http/timing.ts';
import { toAppError } from '../http/errors.ts';
import { classify, recordOneShotRun } from '../inference.ts';
import type { UploadDecoder } from '../upload-decoder.ts';

export type UploadResult =
  | {
      file: string;
      ok: true;
      predictionId: number;
      classIndex: number;
      className: string;
      confidence: number;
      top3: TopK[];
      /** Why a person should look at this answer; null when it can be trusted. */
      review: ReviewReason | null;
      width: number;
      height: number;
      format: string;
    }
  | { file: string; ok: false; error: { code: string; message: string } };

/**
 * A client-chosen file name, kept readable but bounded and free of control characters. busboy hands
 * over the header's bytes as latin1; browsers and curl send UTF-8, so decode it when it is UTF-8.
 */
function cleanName(name: string | undefined, i: number): string {
  let n = name ?? '';
  if (/^[\x00-\xff]*$/.test(n)) {
    const utf8 = Buffer.from(n, 'latin1').toString('utf8');
    if (!utf8.includes('\uFFFD')) n = utf8;
  }
  return n.replace(/[\x00-\x1f\x7f]/g, '').slice(0, 255) || `file-${i + 1}`;
}

export function uploadRouter(deps: AppDeps, decoder: UploadDecoder): Router {
  const { config } = deps;
  const router = Router();
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: config.api.uploadMaxBytes,
      files: config.api.uploadMaxFiles,
      fields: 16,
      fieldSize: 64 * 1024,
      parts: config.api.uploadMaxFiles + 16,
      headerPairs: 200,
    },
  }).any();

  // Files are held in memory: besides the per-file limit, the whole form is capped, and its size
  // must be declared so that an oversize form is refused before a byte of it is read.
  const maxForm = config.api.uploadMaxBytes * 4;
  const receive = (req: Request, res: Response) =>
    new Promise<Express.Multer.File[]>((resolve, reject) => {
      if (!req.is('multipart/form-data')) {
        return reject(
          new AppError(
            415,
            'unsupported-media-type',
            `expected Content-Type: multipart/form-data, got ${req.get('content-type') ?? 'none'}`,
          ),
        );
      }
      const declared = Number(req.get('content-length'));
      if (!req.get('content-length') || !Number.isFinite(declared))
        return reject(new AppError(411, 'length-required', 'uploads must declare Content-Length'));
      if (declared > maxForm)
        return reject(new AppError(413, 'body-too-large', `the form is ${declared} bytes; at most ${maxForm} per request`));
      upload(req, res, (err: unknown) => {
        if (!err) return resolve((req.files as Express.Multer.File[] | undefined) ?? []);
        // busboy's own complaints (bad boundary, truncated form) are the sender's fault too.
        reject(toAppError(err) ?? badRequest('bad-multipart', `multipart body could not be read: ${(err as Error)?.message ?? err}`));
      });
    });

  router.post('/v1/predict/image', async (req, res) => {
    const t0 = arrivedAt(res);
    const files = await receive(req, res);
    if (files.length === 0) throw badRequest('no-files', 'no image files in the form (send them as multipart file fields)');
    const names = files.map((f, i) => cleanName(f.originalname, i));
    const checks = await decoder.check(files.map((f) => f.buffer));
    const prepared = await Promise.all(
      files.map(async (f, i) => {
        const check = checks[i]!;
        if (!check.ok) return { code: check.code!, message: check.message! };
        try {
          return await decoder.decode(f.buffer);
        } catch (e) {
          const reason = (e as { reason?: string }).reason;
          if (!reason) deps.logger.warn('preprocessing failed unexpectedly', { file: f.originalname, error: (e as Error).message });
          return { code: reason ?? 'unreadable', message: (e as Error).message ?? String(e) };
        }
      }),
    );
    const good = prepared.flatMap((p, i) => ('pixels' in p ? [{ i, p }] : []));
    if (good.length === 0) {
      const details = prepared.map((p, i) => ({ file: names[i]!, ...(p as { code: string; message: string }) }));
      const only = details.length === 1 ? details[0]! : undefined;
      throw new AppError(
        400,
        only ? `image-${only.code}` : 'no-valid-images',
        only ? `${only.file}: ${only.message}` : 'none of the files could be read as an image',
        details,
      );
    }
    const pixels = new Uint8Array(good.length * PIXELS_PER_IMAGE);
    good.forEach(({ p }, k) => pixels.set(p.pixels, k * PIXELS_PER_IMAGE));
    const classified = await classify(deps, pixels, good.length);
    const { runKey, response } = await recordOneShotRun(
      deps,
      { source: 'upload', images: good.map(({ i, p }) => ({ id: names[i]!, kind: p.kind })), pixels, classified, startedAt: t0 },
      (ids) => {
        const results: UploadResult[] = prepared.map((p, i) =>
          !('pixels' in p) ? { file: names[i]!, ok: false, error: p } : (undefined as never),
        );
        good.forEach(({ i, p }, k) => {
          const pred = classified.predictions[k]!;
          results[i] = {
            file: names[i]!,
            ok: true,
            predictionId: ids[k]!,
            classIndex: pred.classIndex,
            className: CLASS_NAMES[pred.classIndex]!,
            confidence: pred.confidence,
            top3: pred.top3,
            review: pred.review ?? null,
            width: p.width,
            height: p.height,
            format: p.format,
          };
        });
        return results;
      },
    );
    const totalMs = performance.now() - t0;
    res.json({
      runKey,
      modelVersion: classified.modelVersion,
      files: response,
      timing: { inferenceMs: classified.inferenceMs, totalMs, perImageMs: totalMs / files.length },
    });
  });
  return router;
}
