const sharp = (await import('sharp')).default;
const rgba = Buffer.alloc(100 * 50 * 4).map((_, i) => (i * 37) & 255);
for (const c of [64, 256]) { const png = await sharp(rgba, { raw: { width: 100, height: 50, channels: 4 } }).png({ palette: true, colours: c, dither: 0 }).toBuffer(); console.log(c, png[24], png[25], png[28]); }
const png = await sharp(rgba, { raw: { width: 100, height: 50, channels: 4 } }).png({ palette: true, colours: 64, dither: 0, bitdepth: 8 }).toBuffer(); console.log(png[24], png[25]);
