export { PREPROCESS_VERSION } from './version.ts';
export { ImageError, type ImageErrorReason } from './errors.ts';
export { preprocessImage, type PreprocessOptions, type Preprocessed } from './preprocess.ts';
export { probeImage } from './probe.ts';
export { sharpAvailable } from './decode-sharp.ts';
export { createPreprocessPool, type PreprocessPool } from './pool.ts';
