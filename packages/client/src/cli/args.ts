/** Shared CLI plumbing: config errors print their message and exit 2 instead of a stack trace. */
import { ConfigError, closeLoggers } from '@refund-vision/shared';
import { RunLockedError } from '../run-lock.ts';

export async function exitWith(code: number): Promise<never> {
  await closeLoggers();
  process.exit(code);
}

export async function main(fn: () => Promise<number>): Promise<void> {
  try {
    await exitWith(await fn());
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RunLockedError || e instanceof RangeError) {
      console.error(`error: ${(e as Error).message}`);
    } else console.error(e);
    await exitWith(2);
  }
}
