// The package's entry point loads no TensorFlow.js: the API serves through ONNX Runtime and only
// a tfjs engine (loadClassifier with backend wasm/cpu/node), training and the ONNX export need it.
// Those live in their own modules (engine.ts, io.ts, train.ts, onnx-export.ts, architectures.ts),
// imported by the model's own CLIs and loaded on demand by the classifier.
export { loadClassifier, readCard, ONNX_FILE, type Classifier, type LoadClassifierOptions } from './classifier.ts';
export { EngineUnavailableError, parseBackend, type BackendChoice, type EngineName, type TfEngine } from './backend-choice.ts';
export { tensorCount } from './tensor-count.ts';
export { loadFashionMnist, candidateDirs, DatasetError, type FashionMnist, type Split } from './fashion-mnist.ts';
export { readArtifacts, weightsVersion, MODEL_JSON, WEIGHTS_FILE } from './model-files.ts';
export { ensembleMembersOf } from './ensemble-members.ts';
export { evaluate, argmaxRow, pixelStats, classDistribution, type Evaluation, type PixelStats } from './metrics.ts';
export { evaluateModel, type EvaluationReport } from './evaluate.ts';
export {
  loadClothingPhotos,
  readClothingPhotos,
  splitBySender,
  photoCandidateDirs,
  PHOTO_LABELS,
  STRICT_LABELS,
  HEAD_LABELS,
  HEAD_LABEL_SETS,
  type Photo,
  type ClothingPhotos,
} from './clothing-photos.ts';
export { photoArrays, photoCacheKey, type PhotoArrays } from './photo-arrays.ts';
export {
  evaluatePhotos,
  chooseReviewPolicy,
  reviewOutcome,
  REVIEW_TARGETS,
  type PhotoEvaluation,
  type ReviewOutcome,
} from './photo-metrics.ts';
export { measureSpeed, type SpeedRow } from './speed.ts';
export { writeSamples, type SampleFile } from './samples.ts';
export { buildPng, encodeGrayPng } from './png.ts';
export { gate, mcnemar, binomialUpperTail, formatGateReport, type GateReport, type GateSetResult, type PairedOutcomes } from './gate.ts';
export { ModelRegistry, RegistryError, defaultActor, ALIASES, type Alias, type Move, type VersionInfo } from './registry.ts';
export { SwappableClassifier, type TaggedPrediction } from './swappable.ts';
export type { ServedRows } from './label-rows.ts';

/** Writes model.onnx from the tfjs weights in `dir`; loads TensorFlow.js on first call, not at import. */
export async function exportOnnx(dir: string): Promise<string> {
  return (await import('./onnx-export.ts')).exportOnnx(dir);
}
