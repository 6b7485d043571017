/**
 * POST /predict — the old Flask API's format, kept byte-compatible for its existing client.
 *
 * Request: `pandas.DataFrame.to_json()` of an N×784 integer frame, column-oriented:
 *   {"0": {"1": 0, "2": 0, …}, "1": {…}, …, "783": {…}}
 * outer keys are pixel columns "0".."783", inner keys the row labels (the old client's started at "1").
 *
 * Reply: `[[num, item, confidence_percent], …]` in row order, where `num` is the row label as the
 * frame had it (a number when the label is an integer, as pandas reads it back, else the string),
 * `item` the old class name, and `confidence_percent` the top probability × 100 rounded to two
 * decimals (e.g. 97.53).
 *
 * Row order is the order of the labels in the body text: JavaScript objects sort integer-like keys,
 * so the first column's keys are read from the raw JSON rather than from the parsed object.
 * Each request is a recorded run (source 'legacy') that is completed at once.
 */
import { Router } from 'express';
import { badRequest, LEGACY_CLASS_NAMES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { arrivedAt } from '../http/timing.ts';
import { jsonBody } from '../http/json-body.ts';
import { classify, recordOneShotRun } from '../inference.ts';

export type LegacyRow = [number | string, string, number];

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The row labels of the first inner object, in the order the text has them; undefined when the text
 * is not shaped as expected (the parsed object's order is used then).
 */
export function rowOrderFromText(text: string): string[] | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const str = (): string | undefined => {
    if (text[i] !== '"') return undefined;
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return undefined;
    }
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) return false;
    i++;
    ws();
    return true;
  };
  if (!expect('{') || str() === undefined || !expect(':') || !expect('{')) return undefined;
  const keys: string[] = [];
  if (text[i] === '}') return keys;
  for (;;) {
    const key = str();
    if (key === undefined || !expect(':')) return undefined;
    keys.push(key);
    while (i < text.length && !',}'.includes(text[i]!)) {
      if ('"[{'.includes(text[i]!)) return undefined; // not a scalar value: the validation will say why
      i++;
    }
    if (text[i] === '}') return keys;
    if (!expect(',')) return undefined;
  }
}

const COLUMNS_SHAPE = '{"0": {"1": v, …}, …, "783": {…}}';

/**
 * Names the other `to_json` orient a body was written with, if any. Only the default orient
 * ('columns') is accepted: it is what the old client sent and what `pd.read_json` reads back as
 * the same frame; 'index' is the transpose (ambiguous for 784 rows), and the rest carry no
 * labels or another layout, so a guess could classify the wrong pixels.
 */
export function otherOrient(body: unknown): string | undefined {
  if (Array.isArray(body)) return isPlainObject(body[0]) ? 'records' : Array.isArray(body[0]) ? 'values' : undefined;
  if (!isPlainObject(body)) return undefined;
  if ('schema' in body && 'data' in body) return 'table';
  if ('columns' in body && 'index' in body && 'data' in body) return 'split';
  const keys = Object.keys(body);
  const first = body[keys[0] ?? ''];
  if (keys.length !== PIXELS_PER_IMAGE && isPlainObject(first) && Object.keys(first).length === PIXELS_PER_IMAGE && '783' in first)
    return 'index';
  return undefined;
}

/** Validates the frame and lays its pixels out row-major (N×784 uint8). */
export function parseLegacyFrame(body: unknown, rawText: string | undefined, maxRows: number): { labels: string[]; pixels: Uint8Array } {
  const orient = otherOrient(body);
  if (orient) {
    throw badRequest(
      'unsupported-orient',
      `this looks like DataFrame.to_json(orient='${orient}'); send the default DataFrame.to_json() (orient='columns'): ${COLUMNS_SHAPE}`,
    );
  }
  if (!isPlainObject(body)) throw badRequest('invalid-frame', `body must be a DataFrame.to_json() object: ${COLUMNS_SHAPE}`);
  const columns = Object.keys(body);
  if (columns.length !== PIXELS_PER_IMAGE)
    throw badRequest('invalid-frame', `expected ${PIXELS_PER_IMAGE} pixel columns "0".."${PIXELS_PER_IMAGE - 1}", got ${columns.length}`);
  const first = body['0'];
  if (!isPlainObject(first)) throw badRequest('invalid-frame', 'column "0" is missing or not an object of row label → pixel');
  let labels = Object.keys(first);
  const fromText = rawText ? rowOrderFromText(rawText) : undefined;
  if (fromText && fromText.length === labels.length && new Set(fromText).size === labels.length && fromText.every((k) => k in first))
    labels = fromText;
  const n = labels.length;
  if (n === 0) throw badRequest('empty-batch', 'the frame has no rows');
  if (n > maxRows) throw badRequest('too-many-images', `at most ${maxRows} rows per request, got ${n}`);
  const pixels = new Uint8Array(n * PIXELS_PER_IMAGE);
  for (let c = 0; c < PIXELS_PER_IMAGE; c++) {
    const col = body[String(c)];
    if (!isPlainObject(col)) throw badRequest('invalid-frame', `column "${c}" is missing or not an object of row label → pixel`);
    if (Object.keys(col).length !== n)
      throw badRequest('invalid-frame', `column "${c}" has ${Object.keys(col).length} rows, column "0" has ${n}`);
    for (let r = 0; r < n; r++) {
      const v = col[labels[r]!];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
        throw badRequest(
          'invalid-pixel',
          `column "${c}" row "${labels[r]}": expected an integer 0–255, got ${v === undefined ? 'nothing' : JSON.stringify(v)?.slice(0, 40)}`,
        );
      }
      pixels[r * PIXELS_PER_IMAGE + c] = v;
    }
  }
  return { labels, pixels };
}

export const legacyNum = (label: string): number | string => (/^-?\d{1,15}$/.test(label) ? Number(label) : label);

export function legacyRouter(deps: AppDeps): Router {
  const router = Router();
  router.post('/predict', ...jsonBody(deps.config.api.bodyLimitBytes), async (req, res) => {
    const t0 = arrivedAt(res);
    const { labels, pixels } = parseLegacyFrame(req.body, res.locals.rawJson as string | undefined, deps.config.api.maxBatch);
    const classified = await classify(deps, pixels, labels.length);
    const reply: LegacyRow[] = classified.predictions.map((p, i) => [
      legacyNum(labels[i]!),
      LEGACY_CLASS_NAMES[p.classIndex]!,
      Math.round(p.confidence * 10000) / 100,
    ]);
    await recordOneShotRun(
      deps,
      { source: 'legacy', images: labels.map((id) => ({ id })), pixels, classified, startedAt: t0 },
      () => reply,
    );
    res.json(reply);
  });
  return router;
}
