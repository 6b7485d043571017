/**
 * What the process does when an error escapes every handler (an `uncaughtException` or an
 * `unhandledRejection`): the process is in an unknown state, so it stops — but not silently. It
 * logs one clear line naming the error, marks liveness and readiness failing (so a balancer or an
 * orchestrator that still asks learns why), refuses new work, lets in-flight requests finish for a
 * bounded time, and exits non-zero so a supervisor (the cluster primary, systemd, Kubernetes)
 * starts a fresh one. A second fatal error during that drain exits at once.
 */
import { closeLoggers, type Logger } from '@refund-vision/shared';
import type { ServerHandle } from './server.ts';

/** Exit code for "stopped after an unexpected error" (EX_SOFTWARE). */
export const FATAL_EXIT_CODE = 70;

export interface CrashPolicyOptions {
  logger: Logger;
  /** How long probes answer 503 before the listener closes, so pollers see why. */
  announceMs?: number;
  /** In-flight requests get at most this long to finish. */
  drainMs?: number;
  /** Where the process ends (tests of the policy run it in a child process). */
  exit?: (code: number) => void;
}

const describe = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export interface CrashPolicy {
  /** From now on a fatal error drains this server before the exit. */
  attach(handle: ServerHandle): void;
  uninstall(): void;
}

/**
 * Installs the policy; call it before the server starts, so that no moment is left where an
 * escaped error ends the process the default way. Until a server is attached a fatal error is
 * logged and the process exits at once (there is nothing to drain).
 */
export function installCrashPolicy(opts: CrashPolicyOptions): CrashPolicy {
  const { logger } = opts;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const announceMs = opts.announceMs ?? 1000;
  const drainMs = opts.drainMs ?? 10_000;
  let handle: ServerHandle | undefined;
  let fatal = false;

  const onFatal = (kind: string, err: unknown) => {
    const reason = `${kind}: ${describe(err)}`;
    if (fatal) {
      process.stderr.write(`api: second fatal error while draining (${reason}); exiting now\n`);
      exit(FATAL_EXIT_CODE);
      return;
    }
    fatal = true;
    const server = handle;
    if (server) server.state.failed = reason;
    // The stack goes to the log for whoever fixes the bug; stderr gets one line an operator can read.
    logger.error(`api: fatal ${reason} — ${server ? 'refusing new work, draining, then exiting' : 'exiting'}`, {
      trace: err instanceof Error ? err.stack : undefined,
    });
    process.stderr.write(`api: fatal ${reason}; ${server ? 'draining and exiting' : 'exiting'} with code ${FATAL_EXIT_CODE}\n`);
    const hardStop = setTimeout(() => exit(FATAL_EXIT_CODE), announceMs + drainMs + 2000);
    hardStop.unref();
    void (async () => {
      if (server) {
        await new Promise((r) => setTimeout(r, announceMs));
        await Promise.race([server.close().catch(() => undefined), new Promise((r) => setTimeout(r, drainMs))]);
      }
      await closeLoggers().catch(() => undefined);
      exit(FATAL_EXIT_CODE);
    })();
  };
  const onException = (err: unknown) => onFatal('uncaught exception', err);
  const onRejection = (err: unknown) => onFatal('unhandled promise rejection', err);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    attach(h) {
      handle = h;
    },
    uninstall() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}
