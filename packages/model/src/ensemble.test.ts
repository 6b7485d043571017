import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NUM_CLASSES, PIXELS_PER_IMAGE, seededRandom } from '@refund-vision/shared';
import onnxProto from 'onnx-proto';
import { ARCHITECTURES } from './architectures.ts';
import { initTf, tensorCount, tf } from './engine.ts';
import { combineMembers, servingNets, splitMembers } from './ensemble.ts';
import { buildOnnxModel } from './onnx-export.ts';
import { createOnnxRunner } from './onnx-engine.ts';
import { predictTf } from './predict-tf.ts';

/** A small net of every layer kind combineMembers handles; `w` sets its widths. */
function small(seed: number, w: [number, number, number], firstKernel = 3): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: w[0],
        kernelSize: firstKernel,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(seed),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: w[1], kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init(seed + 1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: w[2], activation: 'relu', kernelInitializer: init(seed + 2), biasInitializer: 'ones' }),
      tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: init(seed + 3), biasInitializer: 'ones' }),
    ],
  });
}

/** Large logits: a wrong block or a wrong flatten order changes the answer visibly. */
function loud(members: tf.Sequential[]): tf.Sequential[] {
  for (const m of members) {
    const last = m.layers.at(-1)!;
    last.setWeights(last.getWeights().map((w) => tf.tidy(() => w.mul(8))));
  }
  return members;
}

/** Random bright images: non-zero everywhere, so any misplaced weight shows in the answer. */
function images(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  return Uint8Array.from({ length: n * PIXELS_PER_IMAGE }, () => Math.floor(r() * 256));
}

/** softmax(mean over members of log p): the softmax of the mean logits (log p = z − logsumexp z). */
function logitMean(probs: Float32Array[]): Float32Array {
  const out = new Float32Array(probs[0]!.length);
  for (let r = 0; r < out.length / NUM_CLASSES; r++) {
    const z = Array.from(
      { length: NUM_CLASSES },
      (_, c) => probs.reduce((s, p) => s + Math.log(p[r * NUM_CLASSES + c]!), 0) / probs.length,
    );
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const total = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (out[r * NUM_CLASSES + c] = v / total));
  }
  return out;
}

function worstGap(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('combineMembers (an ensemble as one wider net)', () => {
  before(() => initTf('wasm'));

  it('answers softmax of the mean of the members’ logits, for members of different widths', () => {
    const members = loud([small(1, [4, 6, 5]), small(20, [3, 5, 7]), small(40, [4, 6, 5])]);
    const wide = combineMembers(members);
    expect(wide.layers.map((l) => (l.outputShape as number[]).at(-1))).to.deep.equal([11, 11, 17, 17, 153, 153, 17, 10]);
    const n = 16;
    const px = images(n, 3);
    const got = predictTf(wide, px, n);
    const want = logitMean(members.map((m) => predictTf(m, px, n)));
    expect(worstGap(got, want)).to.be.below(1e-5);
    // and the members alone disagree with it, so the comparison can fail
    expect(worstGap(predictTf(members[0]!, px, n), want)).to.be.above(0.05);
    for (const m of [...members, wide]) m.dispose();
  });

  it('exports to ONNX with the same answers (the served form of the ensemble)', async () => {
    const members = [ARCHITECTURES.slim!.build(5), ARCHITECTURES.slim!.build(9)];
    const wide = combineMembers(members);
    const tmp = mkdtempSync(join(tmpdir(), 'rv-ensemble-'));
    try {
      const path = join(tmp, 'wide.onnx');
      const bytes = buildOnnxModel(wide, 'test');
      writeFileSync(path, bytes);
      // the members' block-diagonal convolutions are exported as grouped convolutions (half the work)
      const convs = (onnxProto.onnx.ModelProto.decode(bytes).graph?.node ?? []).filter((nd) => nd.opType === 'Conv');
      expect(convs.map((nd) => Number(nd.attribute?.find((a) => a.name === 'group')?.i))).to.deep.equal([1, 2, 2]);
      // and the block-diagonal hidden dense layer as a grouped matrix product; the last one (shared by
      // the members) stays one Gemm
      const ops = (onnxProto.onnx.ModelProto.decode(bytes).graph?.node ?? []).map((nd) => nd.opType);
      expect(ops.filter((o) => o === 'MatMul')).to.have.length(1);
      expect(ops.filter((o) => o === 'Gemm')).to.have.length(1);
      const n = 8;
      const px = images(n, 4);
      const runner = await createOnnxRunner(path);
      const got = await runner.run(px, n);
      await runner.release();
      expect(worstGap(got, logitMean(members.map((m) => predictTf(m, px, n))))).to.be.below(1e-4);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      for (const m of [...members, wide]) m.dispose();
    }
  });

  it('refuses members of different shapes, and a single member, with a clear error', () => {
    const a = ARCHITECTURES.slim!.build(1);
    const b = ARCHITECTURES.fast!.build(1);
    expect(() => combineMembers([a, b])).to.throw(/ensemble: member 2 has \d+ layers|ensemble: layer \d+ differs/);
    expect(() => combineMembers([a])).to.throw(/at least two members/);
    const c = small(1, [4, 6, 5]);
    const d = small(2, [4, 6, 5], 5);
    expect(() => combineMembers([c, d])).to.throw(/layer 1 differs/);
    for (const m of [a, b, c, d]) m.dispose();
  });

  it('splits back into its members (splitMembers), which combine into the same answers', () => {
    const members = loud([small(1, [4, 6, 5]), small(20, [4, 6, 5]), small(40, [4, 6, 5])]);
    const wide = combineMembers(members);
    const n = 16;
    const px = images(n, 5);
    const parts = splitMembers(wide, 3);
    // the members' last biases are equal here (all ones), so each part is its member exactly
    parts.forEach((p, m) => expect(worstGap(predictTf(p, px, n), predictTf(members[m]!, px, n))).to.be.below(1e-5));
    expect(worstGap(predictTf(parts[0]!, px, n), predictTf(parts[1]!, px, n))).to.be.above(0.05);
    // with different biases each part gets their mean, and the parts still combine into the net
    const last = members[1]!.layers.at(-1)!;
    last.setWeights([last.getWeights()[0]!, tf.tensor1d(Array.from({ length: NUM_CLASSES }, (_, c) => c - 4))]);
    const wide2 = combineMembers(members);
    const again = combineMembers(splitMembers(wide2, 3));
    expect(worstGap(predictTf(again, px, n), predictTf(wide2, px, n))).to.be.below(1e-5);
    expect(() => splitMembers(wide, 4)).to.throw(/not a multiple of 4 members/);
    // a net trained as one wide net mixes the members' channels: not an ensemble any more
    const conv = wide.layers[2]!;
    const [k, b] = conv.getWeights();
    const kd = (k!.dataSync() as Float32Array).slice();
    // kernel rows (ky, kx, input channel), columns output channels: input 0 (member 1) into output 17 (member 3)
    kd[17] = 0.5;
    conv.setWeights([tf.tensor(kd, k!.shape), b!]);
    expect(() => splitMembers(wide, 3)).to.throw(/layer 3 mixes the members' channels/);
    for (const m of [...members, ...parts, wide, wide2, again]) m.dispose();
  });
  it('serves a combined net as its members when its card records them (servingNets): the same answers, mirror included', () => {
    const members = loud([small(3, [4, 6, 5]), small(30, [4, 6, 5])]);
    const wide = combineMembers(members);
    const card = { training: { epochs: 0, initFrom: { training: { members: [{ version: 'a' }, { version: 'b' }] } } } };
    const n = 24;
    const px = images(n, 9);
    const before = tensorCount();
    const served = servingNets(wide, card);
    expect(served.members).to.equal(true);
    expect(served.nets).to.have.length(2);
    for (const flip of [false, true]) {
      const got = predictTf(served.nets, px, n, 10, flip);
      expect(worstGap(got, predictTf(wide, px, n, 10, flip))).to.be.below(1e-5);
      // not just one member's answer
      expect(worstGap(got, predictTf(served.nets[0]!, px, n, 10, flip))).to.be.above(0.01);
    }
    served.nets.forEach((net) => net.dispose());
    expect(tensorCount()).to.equal(before);
    // a card without members, and a net whose blocks mix the members: the net itself
    expect(servingNets(wide, { training: { epochs: 3 } })).to.deep.equal({ nets: [wide], members: false });
    const conv = wide.layers[2]!;
    const [k, b] = conv.getWeights();
    const kd = (k!.dataSync() as Float32Array).slice();
    kd[7] = 0.5; // input channel 0 (member 1) into output channel 7 (member 2)
    conv.setWeights([tf.tensor(kd, k!.shape), b!]);
    const beforeMixed = tensorCount();
    const mixed = servingNets(wide, card);
    expect(mixed.members).to.equal(false);
    expect(mixed.nets).to.deep.equal([wide]);
    expect(mixed.why).to.match(/layer 3 mixes the members' channels/);
    // refusing frees what the split had made so far
    expect(tensorCount()).to.equal(beforeMixed);
    for (const m of [...members, wide]) m.dispose();
  });
});
