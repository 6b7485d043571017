import { writeFileSync } from 'node:fs';
import { photoImage, item } from '../src/test-images.ts';
import { loadFashionMnist } from '@refund-vision/model';
const test = await loadFashionMnist('test');
writeFileSync('/tmp/pp/photo1.jpg', await photoImage(item(test.images, 1), { seed: 1 }));
