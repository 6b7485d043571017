import { expect } from 'chai';
import { crc32 } from 'node:zlib';
import { useTestServer } from '../test-support.ts';

/** A PNG whose header claims width × height; nothing after IHDR. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const type = Buffer.from('IHDR');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, ihdr])));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), len, type, ihdr, crc]);
}

async function upload(url: string, files: { name: string; data: Buffer; type?: string }[]) {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([new Uint8Array(f.data)], { type: f.type ?? 'application/octet-stream' }), f.name);
  const res = await fetch(`${url}/v1/predict/image`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as any };
}

describe('POST /v1/predict/image', () => {
  const srv = useTestServer({ api: { uploadMaxBytes: 2 * 1024 * 1024 } });

  it('refuses an image whose header declares huge dimensions, before decoding it', async () => {
    const res = await upload(srv.url, [{ name: 'huge.png', data: pngHeader(100_000, 100_000), type: 'image/png' }]);
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('image-too-large');
    expect(res.body.error.details[0]).to.deep.include({ file: 'huge.png', code: 'too-large' });
  });

  it('answers bad uploads with 4xx JSON: no files, wrong content type, file over the limit', async () => {
    const empty = await fetch(`${srv.url}/v1/predict/image`, { method: 'POST', body: new FormData() });
    expect(empty.status).to.equal(400);
    const json = await fetch(`${srv.url}/v1/predict/image`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).to.equal(415);
    const big = await upload(srv.url, [{ name: 'big.png', data: Buffer.alloc(3 * 1024 * 1024, 1) }]);
    expect(big.status).to.equal(413);
    expect(big.body.error.code).to.equal('limit-file-size');
    const many = await upload(
      srv.url,
      Array.from({ length: 5 }, (_, i) => ({ name: `part-${i}.png`, data: Buffer.alloc(1.9 * 1024 * 1024, i) })),
    );
    expect(many.status).to.equal(413);
    expect(many.body.error.code).to.equal('body-too-large');
    const chunked = await fetch(`${srv.url}/v1/predict/image`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: new Blob(['--XYZ--\r\n']).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).to.equal(411);
    const truncated = await fetch(`${srv.url}/v1/predict/image`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\nabc',
    });
    expect(truncated.status).to.equal(400);
    expect(((await truncated.json()) as any).error.code).to.be.a('string');
  });
});
