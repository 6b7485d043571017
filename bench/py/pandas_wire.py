"""Bytes per image of the old wire format: pandas.DataFrame(N×784 ints).to_json(), row labels from 1
as the old client sent them (see KNOWLEDGE.md). Prints one JSON line."""
import argparse
import gzip
import json

import numpy as np
import pandas as pd

ap = argparse.ArgumentParser()
ap.add_argument('--images', required=True, help='raw uint8 N×784 file')
a = ap.parse_args()
x = np.fromfile(a.images, dtype=np.uint8).reshape(-1, 784).astype(np.int64)
df = pd.DataFrame(x, index=range(1, len(x) + 1))
body = df.to_json().encode()
print(json.dumps({'pandas': pd.__version__, 'images': len(x), 'bytes': len(body), 'bytesPerImage': len(body) / len(x),
                  'gzipBytesPerImage': len(gzip.compress(body, 6)) / len(x)}))
