/**
 * Identifies what `preprocessImage` outputs. Bumped whenever any step changes the 28×28 pixels
 * (decode, trim, segmentation, fit), so caches of preprocessed images (the model package's training
 * cache of photos) can be keyed by it and rebuilt when it changes.
 */
export const PREPROCESS_VERSION = 'segment-3';
