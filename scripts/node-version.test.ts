import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { nodeVersionProblem, satisfiesMinimum } from './node-version.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const engines = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { engines?: { node?: string } }).engines?.node;

describe('Node version (#12 item 14: zlib.crc32 needs Node 20.15)', () => {
  it('every package.json asks for Node >= 20.15.0', () => {
    const files = [
      join(root, 'package.json'),
      ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'package.json')),
    ];
    for (const f of files) expect(engines(f), f).to.equal('>=20.15.0');
  });

  it('compares versions by number, not as text', () => {
    expect(satisfiesMinimum('20.15.0', '>=20.15.0')).to.equal(true);
    expect(satisfiesMinimum('v20.20.2', '>=20.15.0')).to.equal(true);
    expect(satisfiesMinimum('22.1.0', '>=20.15.0')).to.equal(true);
    expect(satisfiesMinimum('20.14.9', '>=20.15.0')).to.equal(false);
    expect(satisfiesMinimum('20.9.0', '>=20.15.0')).to.equal(false);
    expect(satisfiesMinimum('18.20.0', '>=20.15')).to.equal(false);
    expect(() => satisfiesMinimum('20.15.0', '^20')).to.throw(/plain ">=X.Y.Z"/);
  });

  it('an older Node gets one message naming both versions', () => {
    expect(nodeVersionProblem('20.14.0', '>=20.15.0')).to.equal(
      'refund-vision needs Node >=20.15.0 (package.json engines); this is Node 20.14.0. Install a newer Node 20 LTS or later.',
    );
    expect(nodeVersionProblem(process.versions.node, '>=20.15.0')).to.equal(undefined);
  });

  it('the Node that satisfies the range has what the code needs (zlib.crc32)', () => {
    expect(satisfiesMinimum(process.versions.node, engines(join(root, 'package.json'))!)).to.equal(true);
    expect(typeof (zlib as { crc32?: unknown }).crc32).to.equal('function');
  });

  it('bootstrap checks the version first (an unknown command on this Node gets past the check)', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'bootstrap.mjs'), 'no-such-command'], { encoding: 'utf8' });
    expect(r.stderr).to.not.contain('needs Node');
    expect(r.stderr).to.contain('unknown command no-such-command');
  });
});
