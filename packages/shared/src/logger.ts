/**
 * One logger factory for every component. Each event is one human-readable line in
 * logs/events.log (a link to the current day's file; files rotate daily) and on the console:
 *
 *   2026-11-21T18:00:03.120Z WARN  client run=2026-11-21T18-00 skipped unreadable image file="G1/x.png"
 *
 * `parseEventLine` reads the same lines back for `pnpm events`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';

export type Level = 'error' | 'warn' | 'info' | 'debug';
export interface EventFields {
  component?: string;
  run?: string;
  file?: string;
  batch?: number | string;
  [key: string]: unknown;
}

const quote = (v: unknown) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
};

export function formatEventLine(info: { level: string; message: unknown; timestamp?: string } & EventFields): string {
  const { level, message, timestamp, component, run, file, batch, ...rest } = info;
  const extras = Object.entries(rest)
    .filter(([k, v]) => typeof k === 'string' && v !== undefined && !['splat', 'stack'].includes(k))
    .map(([k, v]) => `${k}=${quote(v)}`);
  const parts = [
    timestamp ?? new Date().toISOString(),
    level.toUpperCase().padEnd(5),
    component ?? 'app',
    `run=${run ?? '-'}`,
    String(message).replace(/[\r\n]+/g, ' '),
  ];
  if (file !== undefined) parts.push(`file=${quote(file)}`);
  if (batch !== undefined) parts.push(`batch=${quote(batch)}`);
  return [...parts, ...extras].join(' ');
}

export interface ParsedEvent {
  time: string;
  level: Level;
  component: string;
  run: string | null;
  message: string;
  line: string;
}

const LINE = /^(\S+) (ERROR|WARN|INFO|DEBUG)\s+(\S+) run=(\S+) (.*)$/;
export function parseEventLine(line: string): ParsedEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return {
    time: m[1]!,
    level: m[2]!.toLowerCase() as Level,
    component: m[3]!,
    run: m[4] === '-' ? null : m[4]!,
    message: m[5]!,
    line,
  };
}

const lineFormat = winston.format.printf((info) => formatEventLine(info as any));

export interface LoggerOptions {
  dir: string;
  level?: Level;
  console?: boolean;
}

const roots = new Map<string, winston.Logger>();
const dirOf = (key: string) => key.slice(0, key.lastIndexOf('|'));

function fileTransport(dir: string): DailyRotateFile {
  return new DailyRotateFile({
    dirname: dir,
    filename: 'events-%DATE%.log',
    datePattern: 'YYYY-MM-DD',
    createSymlink: true,
    symlinkName: 'events.log',
    maxFiles: '90d',
  });
}

/** Root logger per log folder, so every component appends through one file transport. */
function rootLogger(opts: LoggerOptions): winston.Logger {
  const key = `${opts.dir}|${opts.console ?? true}`;
  let logger = roots.get(key);
  if (logger) return logger;
  mkdirSync(opts.dir, { recursive: true });
  const transports: winston.transport[] = [fileTransport(opts.dir)];
  if (opts.console ?? true) transports.push(new winston.transports.Console({ stderrLevels: ['error', 'warn'] }));
  logger = winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(winston.format.timestamp(), lineFormat),
    transports,
  });
  roots.set(key, logger);
  return logger;
}

export type Logger = winston.Logger;

export function createLogger(component: string, opts: LoggerOptions): winston.Logger {
  return rootLogger(opts).child({ component });
}

/** Detaches a transport and resolves once it has written what it holds (at most 2 s). */
function closeTransport(logger: winston.Logger, t: winston.transport): Promise<void> {
  return new Promise<void>((res) => {
    const timer = setTimeout(res, 2000);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      res();
    };
    // Detach first so a component still holding this logger cannot write to a closed stream.
    logger.remove(t);
    if (t instanceof DailyRotateFile) {
      // Its close() ends the file stream and emits 'finish' once the data is flushed.
      t.once('finish', done);
      t.close?.();
    } else done();
  });
}

/** Flush and close every file transport (tests and shutdown); resolves once lines are on disk. */
export async function closeLoggers(): Promise<void> {
  const all = [...roots.values()];
  roots.clear();
  await Promise.all(all.flatMap((logger) => [...logger.transports].map((t) => closeTransport(logger, t))));
}

/**
 * Resolves once every line logged to `dir` so far is on disk, the loggers staying usable: each
 * file transport is swapped for a fresh one in the same tick (no line can fall between them), and
 * the old one is closed, which flushes it. For tests that read the events log of a live component.
 */
export async function flushLogs(dir: string): Promise<void> {
  const swaps: Promise<void>[] = [];
  for (const [key, logger] of roots) {
    if (dirOf(key) !== dir) continue;
    for (const t of [...logger.transports]) {
      if (!(t instanceof DailyRotateFile)) continue;
      logger.add(fileTransport(dir));
      swaps.push(closeTransport(logger, t));
    }
  }
  await Promise.all(swaps);
}

export function eventLogPath(dir: string): string {
  return join(dir, 'events.log');
}
