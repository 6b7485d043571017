// The Node version the project needs, checked before anything else runs: zlib.crc32 (PNG writing,
// bench images) arrived in Node 20.15, so an older Node would fail late with "crc32 is not a
// function". The range is package.json's `engines.node`, a plain ">=X.Y.Z".

/** Whether `version` (e.g. "20.20.2" or "v20.20.2") satisfies `range` (">=X[.Y[.Z]]"). */
export function satisfiesMinimum(version, range) {
  const m = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range ?? '');
  if (!m) throw new Error(`engines.node must be a plain ">=X.Y.Z" range, got ${JSON.stringify(range)}`);
  const want = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  const have = String(version)
    .replace(/^v/, '')
    .split('.')
    .map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i];
  return true;
}

/** Undefined when this Node is new enough, else the message to print. */
export function nodeVersionProblem(version, range) {
  if (satisfiesMinimum(version, range)) return undefined;
  return `refund-vision needs Node ${range.replace(/\s+/g, '')} (package.json engines); this is Node ${String(version).replace(/^v/, '')}. Install a newer Node 20 LTS or later.`;
}
