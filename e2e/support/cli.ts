/**
 * The client's CLIs (`batch`, `schedule`, …) as child processes, configured by one config file
 * alone: the environment's config variables are dropped, and RV_ROOT puts every relative path
 * (inbox, outbox, state, results) in the test's temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { ENV_KEYS, projectRoot } from '@refund-vision/shared';

export interface Child {
  proc: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `packages/client/src/cli/<cli>.ts`; `env` adds variables on top of the cleaned environment. */
export function startCli(cli: string, configFile: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Child {
  const full: NodeJS.ProcessEnv = { ...process.env, RV_CONFIG: configFile, RV_ROOT: dirname(configFile) };
  for (const k of Object.keys(ENV_KEYS)) delete full[k];
  Object.assign(full, env);
  const script = join(projectRoot(), 'packages', 'client', 'src', 'cli', `${cli}.ts`);
  // node --import tsx, not the tsx binary: that one runs node as ITS child, which a SIGKILL would orphan.
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: projectRoot(),
    env: full,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, out: () => out, exit };
}
