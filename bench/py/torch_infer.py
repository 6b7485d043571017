"""PyTorch CPU inference of the same architecture as our model: ms/img at the given batch sizes,
one thread by default, warm-up excluded, median of several runs; accuracy on the test set when our
trained weights could be loaded. Prints one JSON line."""
import argparse
import json
import statistics
import time

import numpy as np
import torch

from kerasnet import load_model, read_u8, to_input

ap = argparse.ArgumentParser()
ap.add_argument('--model-dir', required=True)
ap.add_argument('--images', required=True, help='raw uint8 N×784 file')
ap.add_argument('--labels', help='raw uint8 N file, for accuracy')
ap.add_argument('--batches', default='100,1000')
ap.add_argument('--seconds', type=float, default=3.0, help='measuring budget per batch size')
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--scale', default='unit')
ap.add_argument('--limit', type=int, default=0, help='accuracy on the first N labelled images only')
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.set_num_interop_threads(1)
model, info = load_model(a.model_dir)
model.eval()
images = read_u8(a.images)

res = {'torch': torch.__version__, 'threads': torch.get_num_threads(), **info, 'msPerImg': {}, 'runs': {}}
with torch.inference_mode():
    for b in [int(s) for s in a.batches.split(',')]:
        x = images[:b]
        if len(x) < b:
            x = np.resize(images, (b, images.shape[1]))
        run = lambda: model(to_input(x, info['inputShape'], a.scale))
        for _ in range(3):  # warm-up: allocator, oneDNN primitive caches
            run()
        times = []
        deadline = time.perf_counter() + a.seconds
        while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1000)
        res['msPerImg'][str(b)] = statistics.median(times) / b
        res['runs'][str(b)] = len(times)
    if a.labels and info['weights'] == 'loaded':
        labels = read_u8(a.labels, a.limit or None, width=1)
        correct = 0
        for i in range(0, len(labels), 1000):
            p = model(to_input(images[i:i + 1000], info['inputShape'], a.scale))
            correct += int((p.argmax(1).numpy() == labels[i:i + 1000]).sum())
        res['accuracy'] = correct / len(labels)
print(json.dumps(res))
