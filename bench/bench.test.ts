import { expect } from 'chai';
import { countFlops, kerasLayers, windowOut } from './lib/flops.ts';
import { tagJpeg, tagPng } from './lib/images.ts';
import { parseArgs } from './lib/args.ts';
import { maxRelativeDeviation, median, percentile } from './lib/stats.ts';
import { evaluate, formatMarkdown, formatNumber, formatTable, ratioOf, type Row } from './lib/table.ts';
import { crc32, deflateSync } from 'node:zlib';

/** The reference CNN of KNOWLEDGE.md as tfjs writes it into model.json (Keras layer configs). */
const refModel: {
  format: string;
  modelTopology: { class_name: string; config: { name: string; layers: { class_name: string; config: Record<string, unknown> }[] } };
  weightsManifest: never[];
} = {
  format: 'layers-model',
  modelTopology: {
    class_name: 'Sequential',
    config: {
      name: 'sequential_1',
      layers: [
        {
          class_name: 'Conv2D',
          config: {
            name: 'c1',
            filters: 32,
            kernel_size: [3, 3],
            strides: [1, 1],
            padding: 'valid',
            activation: 'relu',
            use_bias: true,
            batch_input_shape: [null, 28, 28, 1],
          },
        },
        { class_name: 'MaxPooling2D', config: { name: 'p1', pool_size: [2, 2], padding: 'valid', strides: [2, 2] } },
        {
          class_name: 'Conv2D',
          config: { name: 'c2', filters: 64, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu', use_bias: true },
        },
        { class_name: 'MaxPooling2D', config: { name: 'p2', pool_size: [2, 2], padding: 'valid', strides: null } },
        { class_name: 'Flatten', config: { name: 'f' } },
        { class_name: 'Dropout', config: { name: 'd0', rate: 0.3 } },
        { class_name: 'Dense', config: { name: 'd1', units: 128, activation: 'relu', use_bias: true } },
        { class_name: 'Dense', config: { name: 'd2', units: 10, activation: 'softmax', use_bias: true } },
      ],
    },
  },
  weightsManifest: [],
};

describe('bench helpers', () => {
  describe('median / percentile', () => {
    it('takes the middle of odd and the mean of the middle two of even samples, unsorted input', () => {
      expect(median([5, 1, 3])).to.equal(3);
      expect(median([4, 1, 3, 2])).to.equal(2.5);
      expect(() => median([])).to.throw(/no samples/);
    });
    it('uses nearest rank', () => {
      const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
      expect(percentile(xs, 50)).to.equal(50);
      expect(percentile(xs, 99)).to.equal(99);
      expect(percentile(xs, 100)).to.equal(100);
      expect(percentile([7], 1)).to.equal(7);
      expect(() => percentile(xs, 101)).to.throw(/outside/);
    });
    it('measures drift from a base value', () => {
      expect(maxRelativeDeviation([100, 105, 92], 100)).to.be.closeTo(0.08, 1e-12);
    });
  });

  describe('FLOP counting from model.json', () => {
    it('counts the reference CNN as 5.26 MFLOP and its parameters like Keras', () => {
      const c = countFlops(refModel);
      expect(c.flops).to.equal(5_262_080);
      expect(c.params).to.equal(225_034);
      expect(c.layers.map((l) => l.outShape)).to.deep.equal([
        [26, 26, 32],
        [13, 13, 32],
        [11, 11, 64],
        [5, 5, 64],
        [1600],
        [1600],
        [128],
        [10],
      ]);
    });
    it('counts what a served ensemble computes: 1/M of the block-diagonal layers, times the views', () => {
      // conv 194,688 + conv 2,230,272 + dense 204,800 + dense 1,280 MACs; the two inner layers halve
      const c = countFlops(refModel, undefined, { members: 2, views: 2 });
      expect(c.macs).to.equal((194_688 + (2_230_272 + 204_800) / 2 + 1_280) * 2);
      expect(c.flops).to.equal(2 * c.macs);
      expect(c.params).to.equal(225_034);
    });
    it('follows same padding and strides', () => {
      expect(windowOut(28, 3, 2, 'same')).to.equal(14);
      expect(windowOut(7, 2, 2, 'valid')).to.equal(3);
      const m = structuredClone(refModel);
      m.modelTopology.config.layers[0]!.config = { ...m.modelTopology.config.layers[0]!.config, padding: 'same', strides: [2, 2] };
      const c = countFlops(m);
      expect(c.layers[0]!.outShape).to.deep.equal([14, 14, 32]);
      expect(c.layers[0]!.macs).to.equal(14 * 14 * 32 * 9);
    });
    it('names a layer it cannot count instead of guessing', () => {
      const m = structuredClone(refModel);
      m.modelTopology.config.layers.splice(1, 0, { class_name: 'Conv3D', config: { name: 'odd' } });
      expect(() => countFlops(m)).to.throw(/odd: layer class 'Conv3D'/);
      expect(() => kerasLayers({ modelTopology: {} })).to.throw(/no layers/);
    });
  });

  describe('results table', () => {
    const rows: Row[] = [
      { item: 1, metric: 'inference', unit: 'ms/img', ours: 0.03, peer: 0.3, peerName: 'PyTorch', goal: { kind: 'ratio<=', value: 0.5 } },
      {
        item: 2,
        metric: 'preprocess',
        unit: 'img/s',
        ours: 100,
        peer: 80,
        goal: { kind: 'ratio>=', value: 1.5 },
        note: 'too slow | still',
      },
      { item: 4, metric: 'cold start', unit: 'ms', ours: 1200, peer: null, goal: { kind: 'ours<=', value: 1500 } },
      { item: 5, metric: 'e2e', unit: 's', ours: null, peer: 9, goal: { kind: 'ratio<=', value: 1 }, note: 'not available yet: client' },
    ];
    it('judges each goal on the ratio or on our figure, and leaves it open when a figure is missing', () => {
      expect(rows.map((r) => evaluate(r).met)).to.deep.equal([true, false, true, null]);
      expect(evaluate(rows[0]!).ratio).to.be.closeTo(0.1, 1e-12);
      expect(ratioOf(1, 0)).to.equal(null);
    });
    it('formats numbers without false precision', () => {
      expect(formatNumber(0.030123)).to.equal('0.0301');
      expect(formatNumber(12.345)).to.equal('12.3');
      expect(formatNumber(6145.2)).to.equal('6,145');
      expect(formatNumber(null)).to.equal('—');
    });
    it('prints aligned text with numbered notes, and markdown with escaped pipes', () => {
      const text = formatTable(rows).split('\n');
      expect(text[0]).to.match(/^metric\s+ours\s+peer\s+ratio\s+goal\s+met\?$/);
      // Right-aligned columns end together: header, rule and rows have one width.
      expect(new Set(text.slice(0, 6).map((l) => l.length)).size).to.equal(1);
      expect(text.find((l) => l.startsWith('1. inference'))).to.match(
        /0\.0300 ms\/img\s+0\.300 ms\/img \(PyTorch\)\s+0\.100×\s+ratio ≤ 0\.5\s+yes$/,
      );
      expect(text.find((l) => l.startsWith('2. preprocess [1]'))).to.match(/NO$/);
      expect(text).to.include('[2] 5. e2e: not available yet: client');
      const md = formatMarkdown(rows);
      expect(md.split('\n')[0]).to.equal('| metric | ours | peer | ratio | goal | met? |');
      expect(md).to.contain('too slow \\| still');
      expect(md).to.contain('| 5. e2e [2] | — | 9.00 s | — | ratio ≤ 1 | n/a |');
    });
  });

  describe('distinct copies of sample images', () => {
    it('adds a valid tEXt chunk before IEND, leaving the image data alone', () => {
      const ihdr = Buffer.alloc(13);
      ihdr.writeUInt32BE(1, 0);
      ihdr.writeUInt32BE(1, 4);
      ihdr[8] = 8;
      const chunk = (type: string, data: Buffer) => {
        const b = Buffer.alloc(12 + data.length);
        b.writeUInt32BE(data.length, 0);
        b.write(type, 4, 'latin1');
        data.copy(b, 8);
        b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
        return b;
      };
      const png = Buffer.concat([
        Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
        chunk('IHDR', ihdr),
        chunk('IDAT', deflateSync(Buffer.from([0, 7]))),
        chunk('IEND', Buffer.alloc(0)),
      ]);
      const a = tagPng(png, 'copy 1');
      const b = tagPng(png, 'copy 2');
      expect(a.equals(b)).to.equal(false);
      expect(a.subarray(a.length - 12).equals(png.subarray(png.length - 12))).to.equal(true);
      const at = a.indexOf('tEXt');
      const len = a.readUInt32BE(at - 4);
      expect(a.readUInt32BE(at + 4 + len)).to.equal(crc32(a.subarray(at, at + 4 + len)));
      expect(a.subarray(0, png.length - 12).equals(png.subarray(0, png.length - 12))).to.equal(true);
      expect(() => tagPng(Buffer.from('not a png'), 'x')).to.throw(/not a PNG/);
    });
    it('adds a COM segment after a JPEG SOI', () => {
      const jpg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
      const t = tagJpeg(jpg, 'ab');
      expect([...t]).to.deep.equal([0xff, 0xd8, 0xff, 0xfe, 0, 4, 97, 98, 0xff, 0xd9]);
    });
  });

  it('parses --key value, --key=value and flags', () => {
    expect([...parseArgs(['--quick', '--only', '1,2', '--cpu=1'])]).to.deep.equal([
      ['quick', 'true'],
      ['only', '1,2'],
      ['cpu', '1'],
    ]);
    expect(() => parseArgs(['stray'])).to.throw(/unexpected/);
  });
});

describe('bench: window medians', () => {
  it('smooths a sawtooth but keeps a trend', async () => {
    const { windowMedians } = await import('./lib/stats.ts');
    const saw = Array.from({ length: 40 }, (_, i) => 100 + (i % 10 === 9 ? 30 : 0));
    expect(windowMedians(saw, 10)).to.deep.equal([100, 100, 100, 100]);
    const trend = Array.from({ length: 30 }, (_, i) => 100 + i);
    expect(windowMedians(trend, 10)).to.deep.equal([104.5, 114.5, 124.5]);
  });
});
