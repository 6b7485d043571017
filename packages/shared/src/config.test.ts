import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError, isLoopback } from './index.ts';

describe('config', () => {
  it('has the documented defaults, with paths under the project root', () => {
    const cfg = loadConfig({ env: {}, overrides: { root: '/srv/rv' } });
    expect(cfg.api.host).to.equal('127.0.0.1');
    expect(cfg.api.port).to.equal(5000);
    expect(cfg.client.cron).to.equal('0 18 * * *');
    expect(cfg.client.batchSize).to.equal(256);
    expect(cfg.client.retries).to.equal(3);
    expect(cfg.api.dbPath).to.equal('/srv/rv/data/refund-vision.db');
    expect(cfg.client.apiUrl).to.equal('http://127.0.0.1:5000');
  });

  it('lets environment variables override the file, and the file the defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ api: { port: 6000 }, client: { batchSize: 64 } }));
    const cfg = loadConfig({ file, env: { PORT: '7000', RETRIES: '5' }, overrides: { root: dir } });
    expect(cfg.api.port).to.equal(7000);
    expect(cfg.client.batchSize).to.equal(64);
    expect(cfg.client.retries).to.equal(5);
  });

  it('fails fast naming the key and its environment variable', () => {
    expect(() => loadConfig({ env: { PORT: 'seventy' } })).to.throw(ConfigError, /api\.port \(env PORT\)/);
    expect(() => loadConfig({ env: { BATCH_SIZE: '0' } })).to.throw(ConfigError, /client\.batchSize/);
    expect(() => loadConfig({ env: { API_URL: 'not a url' } })).to.throw(ConfigError, /client\.apiUrl/);
  });

  it('takes several API URLs from API_URLS (comma-separated) or a list in the file, each validated', () => {
    const env = { API_URLS: ' http://10.0.0.1:5000, http://10.0.0.2:5000/ ,,' };
    expect(loadConfig({ env }).client.apiUrls).to.deep.equal(['http://10.0.0.1:5000', 'http://10.0.0.2:5000/']);
    expect(loadConfig({ env: {}, overrides: { client: { apiUrls: ['http://a:1'] } } }).client.apiUrls).to.deep.equal(['http://a:1']);
    expect(loadConfig({ env: {} }).client.apiUrls).to.equal(undefined);
    expect(() => loadConfig({ env: { API_URLS: 'http://ok:1,not a url' } })).to.throw(ConfigError, /client\.apiUrls\.1 \(env API_URLS\)/);
    expect(() => loadConfig({ env: { API_URLS: ' , ' } })).to.throw(ConfigError, /client\.apiUrls \(env API_URLS\): at least one URL/);
  });

  it('selects PostgreSQL by DATABASE_URL, refusing anything that is not a postgres:// URL', () => {
    expect(loadConfig({ env: {} }).api.databaseUrl).to.equal(undefined);
    const url = 'postgres://rv:secret@db.internal:5432/refund_vision';
    expect(loadConfig({ env: { DATABASE_URL: url } }).api.databaseUrl).to.equal(url);
    expect(loadConfig({ env: { DATABASE_URL: 'postgresql://db/rv' } }).api.databaseUrl).to.equal('postgresql://db/rv');
    expect(() => loadConfig({ env: { DATABASE_URL: 'mysql://db/rv' } })).to.throw(ConfigError, /api\.databaseUrl \(env DATABASE_URL\)/);
  });

  it('rejects a config file that is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ nope');
    expect(() => loadConfig({ file, env: {} })).to.throw(ConfigError, /bad\.json/);
  });

  it('knows loopback addresses', () => {
    expect(isLoopback('127.0.0.1')).to.equal(true);
    expect(isLoopback('localhost')).to.equal(true);
    expect(isLoopback('::1')).to.equal(true);
    expect(isLoopback('0.0.0.0')).to.equal(false);
    expect(isLoopback('192.168.1.4')).to.equal(false);
  });
});
