/**
 * TensorFlow.js backend selection. wasm is the default; tfjs-node is an optional accelerator that
 * is installed but broken on machines where its native download failed, so it is imported
 * dynamically and any failure falls through to wasm, then cpu.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Logger } from '@refund-vision/shared';
import { registerWasmKernels } from './wasm-kernels.ts';
import { registerTensorCounter } from './tensor-count.ts';

export { EngineUnavailableError, parseBackend, type BackendChoice, type EngineName, type TfEngine } from './backend-choice.ts';
import { EngineUnavailableError, type BackendChoice, type TfEngine } from './backend-choice.ts';

let nodeFailure: string | undefined;
async function tryNode(): Promise<boolean> {
  if (nodeFailure) return false;
  if (tf.findBackend('tensorflow')) return true;
  try {
    const name = '@tensorflow/tfjs-node';
    await import(/* @vite-ignore */ name);
    return !!tf.findBackend('tensorflow');
  } catch (e) {
    nodeFailure = (e as Error).message.split('\n')[0] ?? 'import failed';
    return false;
  }
}

const tfName = (e: TfEngine) => (e === 'node' ? 'tensorflow' : e);

async function activate(engine: TfEngine): Promise<boolean> {
  if (engine === 'node' && !(await tryNode())) return false;
  try {
    const ok = await tf.setBackend(tfName(engine));
    if (!ok) return false;
    await tf.ready();
  } catch {
    return false;
  }
  if (engine === 'wasm') registerWasmKernels();
  return true;
}

/**
 * Makes a tfjs backend current and returns which one. `auto` (or `onnx`, whose tfjs fallback is the
 * same chain) tries node, wasm, cpu in that order; a named engine that cannot start is an error.
 */
export async function initTf(choice: BackendChoice = 'auto', logger?: Logger): Promise<TfEngine> {
  tf.env().set('PROD', true);
  if (choice === 'node' || choice === 'wasm' || choice === 'cpu') {
    if (await activate(choice)) return choice;
    throw new EngineUnavailableError(
      choice,
      choice === 'node' ? (nodeFailure ?? 'tfjs-node did not register its backend') : `tf.setBackend('${choice}') failed`,
    );
  }
  for (const e of ['node', 'wasm', 'cpu'] as const) {
    if (await activate(e)) {
      if (e !== 'node' && nodeFailure) logger?.debug('tfjs-node unavailable, using fallback', { reason: nodeFailure, engine: e });
      return e;
    }
  }
  throw new EngineUnavailableError('auto', 'no TensorFlow.js backend could start');
}

/**
 * tfjs has one global backend; a classifier loaded on one engine calls this before predicting, so a
 * later load of another engine in the same process does not silently move it.
 */
export async function useTfEngine(engine: TfEngine): Promise<void> {
  if (tf.getBackend() !== tfName(engine)) await tf.setBackend(tfName(engine));
}

registerTensorCounter(() => tf.memory().numTensors);
export { tensorCount } from './tensor-count.ts';

export { tf };
