import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { expressMessageClasses } from './express-messages.ts';

describe('expressMessageClasses', () => {
  let server: Server;
  let url: string;
  /** What each request and response was born with, before Express touched it. */
  const born: boolean[] = [];
  before(async () => {
    const app = express();
    app.get('/echo', (req, res) => res.json({ path: req.path, host: req.get('host') !== undefined }));
    server = createServer({ ...expressMessageClasses(app) }, (req, res) => {
      born.push(Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response);
      born.push(req instanceof IncomingMessage && res instanceof ServerResponse);
      app(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("creates requests and responses on the app's own prototypes, so Express has nothing to change", async () => {
    // several requests on one kept-alive connection (fetch reuses it), as a client sends its batches
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/echo`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ path: '/echo', host: true });
    }
    const missing = await fetch(`${url}/nope`);
    expect(missing.status).to.equal(404);
    await missing.arrayBuffer();
    expect(born).to.have.length(8);
    expect(born.every(Boolean)).to.equal(true);
  });
});
