/**
 * Live TensorFlow.js tensors, for leak tests, without importing TensorFlow.js: engine.ts registers
 * the counter when it loads. Until then no tensor can exist, so the count is 0. This keeps the
 * package barrel free of the ~1.3 s tfjs import for callers that serve through ONNX Runtime.
 */
let counter: (() => number) | undefined;

export function registerTensorCounter(count: () => number): void {
  counter = count;
}

export function tensorCount(): number {
  return counter ? counter() : 0;
}
