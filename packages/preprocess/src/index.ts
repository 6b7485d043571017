export { PREPROCESS_VERSION } from './version.ts';
export { ImageError, type ImageErrorReason } from './errors.ts';
export { preprocessImage, type PreprocessOptions, type Preprocessed } from './preprocess.ts';
export { assertComplete, assertPixels, assertPlausibleSize, DEFAULT_MAX_PIXELS_PER_BYTE, inspectImage, probeImage } from './probe.ts';
export { sharpAvailable } from './decode-sharp.ts';
export { createPreprocessPool, type PoolOptions, type PreprocessPool } from './pool.ts';
export { makeThumbnail, THUMBNAIL_SIDE, type Thumbnail } from './thumbnail.ts';
