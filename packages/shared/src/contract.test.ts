import { expect } from 'chai';
import { PredictRequest, encodePixels, decodePixels, classIndexOf, isCanonicalBase64, PIXELS_PER_IMAGE } from './index.ts';

describe('wire contract', () => {
  const pixels = new Uint8Array(2 * PIXELS_PER_IMAGE).map((_, i) => i % 256);
  const body = { runKey: 'run-1', batchIndex: 0, images: [{ id: 'a.png' }, { id: 'b.png', label: 3 }], pixels: encodePixels(pixels) };

  it('round-trips pixels through base64', () => {
    expect(Buffer.from(decodePixels(encodePixels(pixels))).equals(Buffer.from(pixels))).to.equal(true);
  });

  it('accepts a well-formed batch and defaults the source', () => {
    const parsed = PredictRequest.parse(body);
    expect(parsed.source).to.equal('client');
  });

  it('rejects a pixel payload of the wrong length, unknown keys and bad labels', () => {
    expect(PredictRequest.safeParse({ ...body, images: [{ id: 'a.png' }] }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, extra: 1 }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, images: [{ id: 'a' }, { id: 'b', label: 10 }] }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, runKey: '../etc' }).success).to.equal(false);
  });

  describe('pixels must be canonical base64', () => {
    /** Reference definition of padded standard base64 with zero unused bits (RFC 4648 §3.5, §4). */
    const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/;
    const issue = (pixels: string) => {
      const r = PredictRequest.safeParse({ ...body, pixels });
      expect(r.success, pixels.slice(-8)).to.equal(false);
      return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    };
    // 2 images = 1,568 bytes: 522 full groups and one group with 2 bytes and one '='.
    const good = body.pixels;
    const at = (i: number, c: string) => good.slice(0, i) + c + good.slice(i + 1);

    it('rejects characters outside the alphabet, also base64url and whitespace, naming the position', () => {
      expect(good.endsWith('=') && !good.endsWith('==')).to.equal(true);
      expect(issue(at(10, '!'))).to.equal(`pixels: not base64: character "!" at 10 is outside A–Z a–z 0–9 + /`);
      expect(issue(at(0, '-'))).to.match(/character "-" at 0/);
      expect(issue(at(100, '_'))).to.match(/character "_" at 100/);
      expect(issue(at(7, ' '))).to.match(/character " " at 7/);
      expect(issue(at(7, 'é'))).to.match(/character "é" at 7/);
      expect(issue(at(7, '\u0000'))).to.match(/at 7 is outside/);
    });

    it('rejects bad padding: missing, extra, inside the data, or with non-zero unused bits', () => {
      // Both below are valid base64 of the right character count, but of 1,569 and 1,567 bytes.
      expect(issue(`${good.slice(0, -1)}A`)).to.equal(`pixels: not base64 of 1568 bytes: it ends in 0 '=' where 1 belong`);
      expect(issue(`${good.slice(0, -3)}A==`)).to.match(/ends in 2 '=' where 1 belong/);
      expect(issue(`${good.slice(0, -2)}==`)).to.match(/padding or the last character/);
      expect(issue(at(40, '='))).to.match(/'=' at 40 before the end/);
      const last = good.at(-2)!; // its two low bits are unused for a 2-byte tail
      const dirty = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
        .split('')
        .find((c) => c !== last && !CANONICAL.test(`AA${c}=`))!;
      expect(issue(`${good.slice(0, -2)}${dirty}=`)).to.match(/unused bits must be zero/);
    });

    it('rejects wrong lengths before looking at the characters', () => {
      expect(issue(good.slice(4))).to.equal(`pixels: expected base64 of 2×784 bytes (2092 characters), got 2088`);
      expect(issue(`${good}AAAA`)).to.match(/got 2096/);
      expect(issue('')).to.match(/got 0/);
      expect(issue(`!${good.slice(1, -1)}`)).to.match(/got 2091/);
    });

    it('agrees with the reference definition on thousands of mutated strings', () => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.';
      let seed = 7;
      const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      let accepted = 0;
      for (let k = 0; k < 4000; k++) {
        const bytes = new Uint8Array(rand(9)).map(() => rand(256));
        let s = encodePixels(bytes);
        const edits = rand(3);
        for (let e = 0; e < edits; e++) {
          const i = rand(s.length + 1);
          s = rand(2) ? s.slice(0, i) + alphabet[rand(alphabet.length)] + s.slice(i + 1) : s.slice(0, i) + s.slice(i + 1);
        }
        expect(isCanonicalBase64(s), JSON.stringify(s)).to.equal(CANONICAL.test(s));
        if (CANONICAL.test(s)) accepted++;
      }
      expect(accepted).to.be.within(500, 3500); // both outcomes were exercised
    });
  });

  it('reads class names in every spelling users write', () => {
    expect(classIndexOf('T-shirt/Top')).to.equal(0);
    expect(classIndexOf('ankle_boot')).to.equal(9);
    expect(classIndexOf('Sneaker')).to.equal(7);
    expect(classIndexOf('7')).to.equal(7);
    expect(classIndexOf('hat')).to.equal(undefined);
  });
});
