/**
 * Walks input folders one entry at a time (fs.opendir), so a folder of 100,000 images never sits
 * in memory. Each first-level subfolder is a group; images directly in a root count too (group "").
 * A folder named after a class labels what is under it; `labels.csv` (file,label) and
 * `manifest.csv` (file,order id,expected class) in any folder apply to the files below it.
 * Anything that cannot be walked is yielded as a problem and the walk goes on.
 */
import { readFileSync } from 'node:fs';
import { opendir, realpath, stat } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { classIndexOf, parseCsv } from '@refund-vision/shared';

export type ProblemReason = 'missing-folder' | 'unreadable' | 'symlink-loop' | 'empty' | 'too-large' | 'bad-list';

export interface ScanFile {
  kind: 'file';
  path: string;
  /** Path relative to the root (posix separators), prefixed by the root's name when several roots are scanned. */
  id: string;
  group: string;
  size: number;
  label?: number;
  orderId?: string;
  expected?: number;
}

export interface ScanProblem {
  kind: 'problem';
  path: string;
  id: string;
  group: string;
  reason: ProblemReason;
  message: string;
}

export type ScanItem = ScanFile | ScanProblem;

export interface ScanOptions {
  /** Files larger than this are reported as too-large without being read. */
  maxFileBytes?: number;
  /** Prefix ids with each root's folder name (set when scanning several roots at once). */
  prefixRoot?: boolean;
}

const LIST_FILES = new Set(['labels.csv', 'manifest.csv']);

interface Lists {
  /** Folder of the list, relative to the root, posix. */
  base: string;
  labels?: Map<string, number>;
  manifest?: Map<string, { orderId: string; expected?: number }>;
}

interface Frame {
  dir: string;
  rel: string;
  label?: number;
  lists: Lists[];
  ancestors: string[];
}

/** A folder name that names a class; pure digits do not count (dates, order numbers). */
export function classOfFolder(name: string): number | undefined {
  if (/^\d+$/.test(name.trim())) return undefined;
  return classIndexOf(name);
}

function isHeader(row: string[], words: RegExp): boolean {
  return words.test(row[0] ?? '') && !/\.[a-z0-9]{2,5}$/i.test(row[0] ?? '');
}

function readLists(dir: string, base: string, problems: ScanProblem[], group: string): Lists | undefined {
  const out: Lists = { base };
  const bad = (name: string, message: string) =>
    problems.push({ kind: 'problem', path: join(dir, name), id: posix.join(base, name), group, reason: 'bad-list', message });
  const read = (name: string): string[][] | undefined => {
    try {
      return parseCsv(readFileSync(join(dir, name), 'utf8'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') bad(name, `cannot read ${name}: ${code ?? (e as Error).message}`);
      return undefined;
    }
  };
  const labels = read('labels.csv');
  if (labels) {
    out.labels = new Map();
    for (const [i, row] of labels.entries()) {
      if (i === 0 && isHeader(row, /^(file|filename|image|path|name)$/i)) continue;
      const label = classIndexOf(row[1] ?? '');
      if (row[0] && label !== undefined) out.labels.set(norm(row[0]), label);
      else bad('labels.csv', `labels.csv line ${i + 1}: no known class in ${JSON.stringify(row.join(','))}`);
    }
  }
  const manifest = read('manifest.csv');
  if (manifest) {
    out.manifest = new Map();
    for (const [i, row] of manifest.entries()) {
      if (i === 0 && isHeader(row, /^(file|filename|image|path|name)$/i)) continue;
      if (!row[0]) continue;
      const expected = classIndexOf(row[2] ?? '');
      if (row[2] && expected === undefined) bad('manifest.csv', `manifest.csv line ${i + 1}: unknown class ${JSON.stringify(row[2])}`);
      out.manifest.set(norm(row[0]), { orderId: (row[1] ?? '').trim(), expected });
    }
  }
  return out.labels || out.manifest ? out : undefined;
}

const norm = (p: string) => p.trim().replace(/\\/g, '/').replace(/^\.\//, '');

function lookup(frame: Frame, relFile: string, file: ScanFile): void {
  // The innermost list wins; a row matches the path relative to the list's folder, or just the name.
  for (let i = frame.lists.length - 1; i >= 0; i--) {
    const l = frame.lists[i]!;
    const sub = l.base ? posix.relative(l.base, relFile) : relFile;
    const name = posix.basename(relFile);
    if (file.label === undefined && l.labels) {
      const v = l.labels.get(sub) ?? l.labels.get(name);
      if (v !== undefined) file.label = v;
    }
    if (file.orderId === undefined && l.manifest) {
      const m = l.manifest.get(sub) ?? l.manifest.get(name);
      if (m) {
        file.orderId = m.orderId;
        if (m.expected !== undefined) file.expected = m.expected;
      }
    }
  }
  if (file.label === undefined) file.label = file.expected ?? frame.label;
}

export async function* scanFolders(roots: string[], opts: ScanOptions = {}): AsyncGenerator<ScanItem> {
  const maxBytes = opts.maxFileBytes ?? Infinity;
  const visited = new Set<string>();
  for (const root of roots) {
    const prefix = opts.prefixRoot ? basename(root) : '';
    const idOf = (rel: string) => (prefix ? posix.join(prefix, rel) : rel) || basename(root);
    let rootStat;
    try {
      rootStat = await stat(root);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      yield {
        kind: 'problem',
        path: root,
        id: root,
        group: '',
        reason: code === 'ENOENT' ? 'missing-folder' : 'unreadable',
        message: code === 'ENOENT' ? `folder not found: ${root}` : `cannot open ${root}: ${code}`,
      };
      continue;
    }
    if (rootStat.isFile()) {
      const file: ScanFile = { kind: 'file', path: root, id: basename(root), group: '', size: rootStat.size };
      yield sizeProblem(file, maxBytes) ?? file;
      continue;
    }
    const rootReal = await realpath(root);
    if (visited.has(rootReal)) continue;
    visited.add(rootReal);
    const stack: Frame[] = [{ dir: root, rel: '', lists: [], ancestors: [rootReal] }];
    while (stack.length) {
      const frame = stack.pop()!;
      const group = frame.rel.split('/')[0] ?? '';
      const problems: ScanProblem[] = [];
      const lists = readLists(frame.dir, frame.rel, problems, group);
      if (lists) frame.lists = [...frame.lists, lists];
      yield* problems;
      let dir;
      try {
        dir = await opendir(frame.dir);
      } catch (e) {
        yield unreadableFolder(
          frame.dir,
          idOf(frame.rel),
          group,
          `cannot read folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
        continue;
      }
      const subdirs: Frame[] = [];
      try {
        for await (const ent of dir) {
          const path = join(frame.dir, ent.name);
          const rel = frame.rel ? `${frame.rel}/${ent.name}` : ent.name;
          const entGroup = frame.rel ? group : '';
          if (LIST_FILES.has(ent.name.toLowerCase())) continue;
          if (ent.name.startsWith('.')) continue; // .DS_Store, editor swap files, our own temp files
          let isDir = ent.isDirectory();
          let isFile = ent.isFile();
          let size = -1;
          if (ent.isSymbolicLink() || (!isDir && !isFile)) {
            try {
              const st = await stat(path);
              isDir = st.isDirectory();
              isFile = st.isFile();
              size = st.size;
            } catch (e) {
              const code = (e as NodeJS.ErrnoException).code;
              const loop = code === 'ELOOP';
              yield {
                kind: 'problem',
                path,
                id: idOf(rel),
                group: entGroup || (isDir ? ent.name : ''),
                reason: loop ? 'symlink-loop' : 'unreadable',
                message: loop ? 'symlink loop' : code === 'ENOENT' ? 'dangling symlink' : `cannot stat: ${code}`,
              };
              continue;
            }
          }
          if (isDir) {
            const real = await realpath(path).catch(() => path);
            if (frame.ancestors.includes(real)) {
              yield {
                kind: 'problem',
                path,
                id: idOf(rel),
                group: entGroup || ent.name,
                reason: 'symlink-loop',
                message: 'symlink loop: folder links back to one of its parents',
              };
              continue;
            }
            if (visited.has(real)) continue; // the same folder reached by another link: walked once
            visited.add(real);
            const label = classOfFolder(ent.name) ?? frame.label;
            subdirs.push({
              dir: path,
              rel,
              ...(label !== undefined ? { label } : {}),
              lists: frame.lists,
              ancestors: [...frame.ancestors, real],
            });
            continue;
          }
          if (!isFile) {
            yield {
              kind: 'problem',
              path,
              id: idOf(rel),
              group: entGroup,
              reason: 'unreadable',
              message: 'not a regular file (device, pipe or socket)',
            };
            continue;
          }
          if (size < 0) size = (await stat(path).catch(() => ({ size: 0 }))).size;
          const file: ScanFile = { kind: 'file', path, id: idOf(rel), group: entGroup, size };
          lookup(frame, rel, file);
          if (file.label === undefined) delete file.label;
          yield sizeProblem(file, maxBytes) ?? file;
        }
      } catch (e) {
        yield unreadableFolder(frame.dir, idOf(frame.rel), group, `folder listing failed: ${(e as Error).message}`);
      }
      // Reverse so the pop order follows the listing order.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
  }
}

/** A folder that cannot be opened or listed: one problem for the folder, the rest of the scan goes on. */
function unreadableFolder(path: string, id: string, group: string, message: string): ScanProblem {
  return { kind: 'problem', path, id, group, reason: 'unreadable', message };
}

function sizeProblem(f: ScanFile, maxBytes: number): ScanProblem | undefined {
  if (f.size === 0) return { kind: 'problem', path: f.path, id: f.id, group: f.group, reason: 'empty', message: 'zero-byte file' };
  if (f.size > maxBytes)
    return {
      kind: 'problem',
      path: f.path,
      id: f.id,
      group: f.group,
      reason: 'too-large',
      message: `file is ${f.size} bytes, limit ${maxBytes}`,
    };
  return undefined;
}
