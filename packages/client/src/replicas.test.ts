import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { ReplicaSet } from './replicas.ts';
import { closeServer, listen } from './test-support.ts';

/** A real server whose /readyz answers `ready()` ? 200 : 503. */
async function readyServer(ready: () => boolean, port = 0): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => void res.writeHead(req.url === '/readyz' && ready() ? 200 : 503).end());
  return { url: await listen(server, port), server };
}

describe('ReplicaSet', () => {
  const opts = { baseProbeMs: 20, maxProbeMs: 40, probeTimeoutMs: 500 };

  it('goes round-robin over the replicas that are up, skipping one to avoid while another is up', () => {
    // probes a minute away: none runs during the test, so the order of going down decides
    const set = new ReplicaSet(['http://a:1/', 'http://b:1', 'http://c:1', 'http://a:1'], {
      ...opts,
      baseProbeMs: 60_000,
      maxProbeMs: 60_000,
    });
    try {
      expect(set.size, 'trailing slash and duplicates folded').to.equal(3);
      expect([1, 2, 3, 4].map(() => set.pick().url)).to.deep.equal(['http://a:1', 'http://b:1', 'http://c:1', 'http://a:1']);
      set.failed('http://b:1', 'test');
      expect([1, 2, 3].map(() => set.pick().url)).to.deep.equal(['http://c:1', 'http://a:1', 'http://c:1']);
      expect(set.pick('http://a:1').url).to.equal('http://c:1');
      expect(set.hasAlternative('http://c:1')).to.equal(true);
      set.failed('http://c:1', 'test');
      expect(set.hasAlternative('http://a:1')).to.equal(false);
      expect(set.pick('http://a:1').url, 'the avoided one when it is the only one up').to.equal('http://a:1');
      set.failed('http://a:1', 'test');
      expect(set.healthy()).to.have.length(0);
      expect(set.pick().url, 'all down: the one down longest').to.equal('http://b:1');
    } finally {
      set.close();
    }
  });

  it('never marks the only URL down (a load balancer: nothing to fail over to)', () => {
    const set = new ReplicaSet(['http://lb:1'], opts);
    set.failed('http://lb:1', 'test');
    expect(set.healthy()).to.have.length(1);
    set.close();
  });

  it('marks replicas that are not ready down at the start, and probes them back once /readyz says 200', async () => {
    let bReady = false;
    const a = await readyServer(() => true);
    const b = await readyServer(() => bReady);
    const gone = await readyServer(() => true);
    await closeServer(gone.server); // refuses connections
    const set = new ReplicaSet([a.url, b.url, gone.url], opts);
    try {
      expect(await set.checkAll()).to.equal(1);
      expect(set.healthy().map((r) => r.url)).to.deep.equal([a.url]);
      bReady = true;
      const deadline = performance.now() + 3000;
      while (set.healthy().length < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(set.healthy().map((r) => r.url)).to.deep.equal([a.url, b.url]);
      const gr = set.byUrl(gone.url)!;
      expect(gr.up).to.equal(false);
      expect(gr.failures, 'probed again and again').to.be.greaterThan(1);
    } finally {
      set.close();
      await closeServer(a.server);
      await closeServer(b.server);
    }
  });

  it('stops probing when closed', async () => {
    let probes = 0;
    const server = createServer((_req, res) => void (probes++, res.writeHead(503).end()));
    const url = await listen(server);
    const set = new ReplicaSet([url, 'http://127.0.0.1:9'], opts);
    try {
      set.failed(url, 'test');
      await new Promise((r) => setTimeout(r, 150));
      expect(probes).to.be.greaterThan(0);
      set.close();
      await new Promise((r) => setTimeout(r, 60)); // a probe in flight at close may still land
      const after = probes;
      await new Promise((r) => setTimeout(r, 200));
      expect(probes).to.equal(after);
    } finally {
      set.close();
      await closeServer(server);
    }
  });
});
