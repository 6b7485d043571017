import { expect } from 'chai';
import { loadClothingPhotos, splitBySender, UNCAPPED_SPLIT, VALIDATION_SPLIT } from './clothing-photos.ts';
import { photoValidationSet } from './gate-sets.ts';

describe('gate sets', () => {
  it('compares two models on the photos held out from both when their cards name different splits', async () => {
    const data = await loadClothingPhotos();
    const held = (s: typeof VALIDATION_SPLIT) => new Set(splitBySender(data.photos, s).validation.map((p) => p.id));
    const [capped, uncapped] = [held(VALIDATION_SPLIT), held(UNCAPPED_SPLIT)];
    const both = [...capped].filter((id) => uncapped.has(id)).length;
    const one = await photoValidationSet({ splits: [VALIDATION_SPLIT] });
    const pair = await photoValidationSet({ splits: [VALIDATION_SPLIT, UNCAPPED_SPLIT] });
    // a photo that cannot be preprocessed is left out of either (a handful in the real data)
    expect(one.n).to.be.within(capped.size * 0.97, capped.size);
    expect(pair.n).to.be.within(both * 0.97, both);
    expect(pair.n).to.be.below(one.n);
    expect(pair.pixels.length).to.equal(pair.n * 784);
  });
});
