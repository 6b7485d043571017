export { loadClassifier, readCard, ONNX_FILE, type Classifier, type LoadClassifierOptions } from './classifier.ts';
export { initTf, parseBackend, tensorCount, EngineUnavailableError, type EngineName, type BackendChoice, type TfEngine } from './engine.ts';
export { loadFashionMnist, DatasetError, type FashionMnist, type Split } from './fashion-mnist.ts';
export { saveModel, loadModel, readArtifacts, weightsVersion } from './io.ts';
export { evaluate, pixelStats, type Evaluation, type PixelStats } from './metrics.ts';
