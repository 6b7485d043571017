"""The Python reference pipeline a user would write instead of refund-vision: walk a folder, cv2
decode + grayscale + resize to 28×28, the same CNN in PyTorch (our trained weights), one sqlite3
transaction of predictions, a results CSV. Timed from outside, start-up included.
Prints one JSON line with its own phase timings."""
import argparse
import csv
import json
import os
import sqlite3
import time

T0 = time.perf_counter()
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from kerasnet import load_model, to_input  # noqa: E402

CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')

ap = argparse.ArgumentParser()
ap.add_argument('--model-dir', required=True)
ap.add_argument('--folder', required=True)
ap.add_argument('--db', required=True)
ap.add_argument('--csv', required=True)
ap.add_argument('--batch', type=int, default=256)
ap.add_argument('--threads', type=int, default=0, help='torch threads; 0 = PyTorch default (all cores)')
ap.add_argument('--scale', default='unit')
a = ap.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
t_import = time.perf_counter() - T0

model, info = load_model(a.model_dir)
model.eval()
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(a.folder) for f in fs if f.lower().endswith(EXTS))

t1 = time.perf_counter()
pixels = np.empty((len(files), 784), dtype=np.uint8)
ok = []
for i, p in enumerate(files):
    img = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
    if img is None:
        continue
    pixels[len(ok)] = cv2.resize(img, (28, 28)).reshape(784)
    ok.append(p)
pixels = pixels[:len(ok)]
t_pre = time.perf_counter() - t1

t2 = time.perf_counter()
probs = []
with torch.inference_mode():
    for i in range(0, len(ok), a.batch):
        probs.append(model(to_input(pixels[i:i + a.batch], info['inputShape'], a.scale)).numpy())
probs = np.concatenate(probs) if probs else np.zeros((0, 10), dtype=np.float32)
t_inf = time.perf_counter() - t2

t3 = time.perf_counter()
cls = probs.argmax(1)
conf = probs.max(1)
db = sqlite3.connect(a.db)
db.execute('PRAGMA journal_mode=WAL')
db.execute('CREATE TABLE IF NOT EXISTS predictions (id INTEGER PRIMARY KEY, file TEXT, class INTEGER, class_name TEXT, confidence REAL, created TEXT)')
with db:
    db.executemany('INSERT INTO predictions (file, class, class_name, confidence, created) VALUES (?, ?, ?, ?, datetime())',
                   [(f, int(c), CLASSES[c], float(p)) for f, c, p in zip(ok, cls, conf)])
db.close()
with open(a.csv + '.tmp', 'w', newline='') as fh:
    w = csv.writer(fh)
    w.writerow(['file', 'class', 'confidence'])
    w.writerows((os.path.relpath(f, a.folder), CLASSES[c], f'{p:.4f}') for f, c, p in zip(ok, cls, conf))
os.replace(a.csv + '.tmp', a.csv)
t_out = time.perf_counter() - t3
print(json.dumps({'images': len(ok), 'files': len(files), 'weights': info['weights'], 'threads': torch.get_num_threads(),
                  'importSec': t_import, 'preprocessSec': t_pre, 'inferenceSec': t_inf, 'storeSec': t_out,
                  'insideSec': time.perf_counter() - T0}))
