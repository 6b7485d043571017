/**
 * What "it serves" means for a deployed API, checked the same way against the build (build.test.ts)
 * and the image's root filesystem (image.test.ts): ready on both probes, and a real Fashion-MNIST
 * image uploaded as a PNG comes back with its class.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSamples, type SampleFile } from '@refund-vision/model';
import { CLASS_NAMES } from '@refund-vision/shared';

export interface Started {
  child: ChildProcess;
  url: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns an API process and resolves with its URL once it logs `api ready url=…` (PORT=0 lets the
 * kernel pick the port; the log says which). Rejects with the process's output when it exits first.
 */
export function startApi(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; signalChild?: boolean },
): Promise<Started> {
  const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) {
      // Behind `unshare --fork` the API is unshare's child (PID 1 of its namespace): unshare itself
      // does not pass signals on, so the signal goes to the API, and unshare exits with its status.
      const target = opts.signalChild && signal !== 'SIGKILL' ? childPid(child.pid!) : undefined;
      if (target) process.kill(target, signal);
      else if (signal === 'SIGKILL') process.kill(-child.pid!, signal);
      else child.kill(signal);
    }
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`API not ready within ${opts.timeoutMs ?? 60_000} ms:\n${out.slice(-3000)}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /api ready url=(http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`API exited with ${code} before it was ready:\n${out.slice(-3000)}`));
    });
  });
}

/** The first child process of `pid` (Linux /proc), or undefined. */
export function childPid(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** Real test images as PNG files (with labels.csv) in `dir`. */
export function sampleImages(dir: string, count: number): Promise<SampleFile[]> {
  return writeSamples({ out: dir, count });
}

export interface UploadAnswer {
  file: string;
  ok: boolean;
  className?: string;
  confidence?: number;
}

/** The upload's run (one per request) and its per-file results. */
export interface UploadReply {
  runKey: string;
  files: UploadAnswer[];
}

/** POST /v1/predict/image with the files; returns the run key and the per-file results. */
export async function uploadImages(url: string, dir: string, files: SampleFile[], apiKey?: string): Promise<UploadReply> {
  const form = new FormData();
  for (const f of files) form.append('images', new Blob([readFileSync(join(dir, f.file))], { type: 'image/png' }), f.file);
  const res = await fetch(`${url}/v1/predict/image`, {
    method: 'POST',
    body: form,
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as Partial<UploadReply> & { error?: unknown };
  if (res.status !== 200 || !body.files || !body.runKey) throw new Error(`upload: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { runKey: body.runKey, files: body.files };
}

/** Share of answers whose class is the file's true label. */
export function accuracy(files: SampleFile[], answers: UploadAnswer[]): number {
  const byFile = new Map(answers.map((a) => [a.file, a]));
  return files.filter((f) => byFile.get(f.file)?.className === CLASS_NAMES[f.label]).length / files.length;
}
