"""The old system's preprocessing loop: cv2.imread(path, IMREAD_GRAYSCALE) + cv2.resize(…, (28, 28)),
one image after another in one process. Images/s over the listed files, a warm-up pass excluded,
median of several passes. Prints one JSON line."""
import argparse
import json
import statistics
import time

import cv2

ap = argparse.ArgumentParser()
ap.add_argument('--list', required=True, help='text file, one image path per line')
ap.add_argument('--passes', type=int, default=5)
ap.add_argument('--threads', type=int, default=-1, help='cv2.setNumThreads; -1 leaves OpenCV\'s default')
a = ap.parse_args()
if a.threads >= 0:
    cv2.setNumThreads(a.threads)
paths = [p for p in open(a.list).read().splitlines() if p]


def one_pass():
    t0 = time.perf_counter()
    for p in paths:
        img = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise SystemExit(f'cv2 could not read {p}')
        cv2.resize(img, (28, 28))
    return time.perf_counter() - t0


one_pass()  # warm-up: page cache, codec init
secs = [one_pass() for _ in range(a.passes)]
med = statistics.median(secs)
print(json.dumps({'opencv': cv2.__version__, 'threads': cv2.getNumThreads(), 'images': len(paths), 'passes': len(secs),
                  'imagesPerSec': len(paths) / med, 'msPerImg': med * 1000 / len(paths)}))
