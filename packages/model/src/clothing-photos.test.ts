import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLASS_NAMES } from '@refund-vision/shared';
import {
  PHOTO_LABELS,
  STRICT_LABELS,
  UNCAPPED_SPLIT,
  VALIDATION_SPLIT,
  photoCandidateDirs,
  readClothingPhotos,
  splitBySender,
  splitForRun,
  validationSplitOf,
  type Photo,
} from './clothing-photos.ts';
import { DatasetError } from './fashion-mnist.ts';

/** The real photos (never downloaded in tests): a missing copy fails the suite. */
function photosDir(): string {
  const dir = photoCandidateDirs().find((d) => existsSync(join(d, 'labels.csv')) && existsSync(join(d, 'SHA256SUMS')));
  if (!dir) throw new Error(`clothing photos not found (looked in ${photoCandidateDirs().join(', ')}); set CLOTHING_PHOTOS_DIR`);
  return dir;
}

/** A tiny copy: the first `n` rows of labels.csv with their images and SHA256SUMS lines. */
function tinyCopy(src: string, dst: string, n: number): string[] {
  const lines = readFileSync(join(src, 'labels.csv'), 'utf8').trim().split('\n');
  const rows = lines.slice(1, n + 1);
  const ids = rows.map((r) => r.split(',')[0]!);
  mkdirSync(join(dst, 'images'), { recursive: true });
  for (const id of ids) copyFileSync(join(src, 'images', `${id}.jpg`), join(dst, 'images', `${id}.jpg`));
  writeFileSync(join(dst, 'labels.csv'), `${[lines[0], ...rows].join('\n')}\n`);
  const sums = readFileSync(join(src, 'SHA256SUMS'), 'utf8')
    .split('\n')
    .filter((l) => ids.some((id) => l.endsWith(`images/${id}.jpg`)));
  writeFileSync(join(dst, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  return ids;
}

describe('clothing photos loader', () => {
  let tmp: string;
  let src: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-photos-'));
    src = photosDir();
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('maps every label of the dataset README to a set of classes, out of scope, or excluded', () => {
    const classes = (l: string) => {
      const t = PHOTO_LABELS[l]!;
      return t.kind === 'classes' ? t.classes.map((c) => CLASS_NAMES[c]) : t.kind;
    };
    expect(classes('Shoes')).to.deep.equal(['Sandal', 'Sneaker', 'Ankle boot']);
    expect(classes('Polo')).to.deep.equal(['T-shirt/top', 'Shirt']);
    expect(classes('Pants')).to.deep.equal(['Trouser']);
    expect(classes('Shorts')).to.equal('oos');
    expect(classes('Not sure')).to.equal('exclude');
    expect([...STRICT_LABELS]).to.include.members(['T-Shirt', 'Pants', 'Dress', 'Outwear', 'Shirt', 'Shoes']);
    expect([...STRICT_LABELS]).to.not.include.members(['Polo', 'Longsleeve', 'Blouse', 'Hoodie']);
    expect(STRICT_LABELS.size).to.equal(9); // T-Shirt, Top, Undershirt, Shirt, Outwear, Blazer, Pants, Dress, Shoes
  });

  it('reads and verifies a copy: labels become sets, Not sure / Skip are left out', () => {
    const dir = join(tmp, 'ok');
    tinyCopy(src, dir, 40);
    const d = readClothingPhotos(dir);
    expect(d.photos.length + d.excluded).to.equal(40);
    for (const p of d.photos) {
      expect(existsSync(p.file)).to.equal(true);
      expect(p.outOfScope).to.equal(p.classes.length === 0);
      expect(PHOTO_LABELS[p.label]!.kind).to.not.equal('exclude');
    }
    expect(d.checksums['labels.csv']).to.match(/^[0-9a-f]{64}$/);
  });

  it('a corrupt image is an error naming the file', () => {
    const dir = join(tmp, 'corrupt');
    tinyCopy(src, dir, 12);
    const victim = readClothingPhotos(dir).photos[3]!;
    const bytes = readFileSync(victim.file);
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(victim.file, bytes);
    expect(() => readClothingPhotos(dir))
      .to.throw(DatasetError)
      .with.property('message')
      .that.includes(victim.file)
      .and.includes('checksum mismatch');
  });

  it('a missing image is an error naming the file', () => {
    const dir = join(tmp, 'missing');
    tinyCopy(src, dir, 12);
    const victim = readClothingPhotos(dir).photos[5]!;
    rmSync(victim.file);
    expect(() => readClothingPhotos(dir))
      .to.throw(DatasetError)
      .with.property('message')
      .that.includes(victim.file)
      .and.includes('missing');
  });

  it('splits by sender: deterministic, no sender on both sides, about the share asked for', () => {
    const d = readClothingPhotos(src, { verify: false });
    const a = splitBySender(d.photos);
    const b = splitBySender([...d.photos]);
    expect(a.validation.map((p) => p.id)).to.deep.equal(b.validation.map((p) => p.id));
    const senders = (ps: Photo[]) => new Set(ps.map((p) => p.senderId));
    const trainSenders = senders(a.train);
    for (const s of senders(a.validation)) expect(trainSenders.has(s)).to.equal(false);
    expect(a.train.length + a.validation.length).to.equal(d.photos.length);
    expect(a.validation.length / d.photos.length).to.be.within(0.18, 0.25);
  });

  it('keeps a sender with more than a tenth of the held-out photos in training; the uncapped split is the one older cards name', () => {
    const d = readClothingPhotos(src, { verify: false });
    const count = new Map<string, number>();
    for (const p of d.photos) count.set(p.senderId, (count.get(p.senderId) ?? 0) + 1);
    const biggest = (ps: Photo[]) => Math.max(...[...new Set(ps.map((p) => p.senderId))].map((s) => count.get(s)!));
    const capped = splitBySender(d.photos).validation;
    const uncapped = splitBySender(d.photos, UNCAPPED_SPLIT).validation;
    expect(biggest(capped)).to.be.at.most(VALIDATION_SPLIT.maxSenderShare * VALIDATION_SPLIT.share * d.photos.length);
    // the uncapped split drew one sender for about half its photos (the case the cap is for)
    expect(biggest(uncapped) / uncapped.length).to.be.above(0.4);
    expect(capped.length / d.photos.length).to.be.within(0.18, 0.25);
    // senders the cap did not move stay held out: models of either split can be compared on those
    const cappedSenders = new Set(capped.map((p) => p.senderId));
    const moved = new Set(uncapped.filter((p) => !cappedSenders.has(p.senderId)).map((p) => p.senderId));
    for (const s of moved) expect(count.get(s)).to.be.above(VALIDATION_SPLIT.maxSenderShare * VALIDATION_SPLIT.share * d.photos.length);
    expect(validationSplitOf({ photoEvaluation: { validationSplit: VALIDATION_SPLIT } })).to.deep.equal(VALIDATION_SPLIT);
    expect(validationSplitOf({ photoEvaluation: {} })).to.deep.equal(UNCAPPED_SPLIT);
    expect(validationSplitOf(undefined)).to.deep.equal(UNCAPPED_SPLIT);
  });

  it('a run continuing a photo-trained model keeps its split; asking another one is an error', () => {
    const half = { share: 0.2, maxSenderShare: 0.5 };
    // a model that never saw photos: what was asked, else the default
    expect(splitForRun(undefined, undefined)).to.deep.equal(VALIDATION_SPLIT);
    expect(splitForRun(half, { version: 'fm-only' })).to.deep.equal(half);
    // a photo-trained model: its own split (a card from before the cap: the uncapped one)
    expect(splitForRun(undefined, { photoEvaluation: { validationSplit: half } })).to.deep.equal(half);
    expect(splitForRun(undefined, { photoEvaluation: {} })).to.deep.equal(UNCAPPED_SPLIT);
    expect(splitForRun({ ...half }, { photoEvaluation: { validationSplit: half } })).to.deep.equal(half);
    expect(() => splitForRun(VALIDATION_SPLIT, { photoEvaluation: {} })).to.throw(
      /senders capped at 100 %; .* capped at 10 % would validate it on photos it trained on/,
    );
  });
});
