"""PyTorch training speed for the same architecture as our model: ms per 1,000 images of one epoch
(Adam, cross-entropy, the card's batch size), first batches excluded as warm-up. Prints one JSON line."""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn

from kerasnet import FlipAverage, Members, load_model, read_u8, to_input

ap = argparse.ArgumentParser()
ap.add_argument('--model-dir', required=True)
ap.add_argument('--images', required=True)
ap.add_argument('--labels', required=True)
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--scale', default='unit')
ap.add_argument('--warmup-batches', type=int, default=3)
ap.add_argument('--limit', type=int, default=0)
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(1)
# a combined ensemble trains as one of its members, as `pnpm train` does (never the wide net); a
# single net trains as loaded (its trained weights cost the same per step as fresh ones)
model, info = load_model(a.model_dir)
if isinstance(model, FlipAverage):  # mirror averaging is how the card serves, not how it trains
    model = model.net
if isinstance(model, Members):
    model, info = nn.Sequential(model.members[0], nn.Softmax(dim=1)), {**info, 'memberOf': len(model.members)}
model.train()
# The Keras model ends in softmax; train on its log like categorical cross-entropy does.
opt = torch.optim.Adam(model.parameters(), lr=a.lr)
x_all = read_u8(a.images, a.limit or None)
y_all = torch.from_numpy(read_u8(a.labels, a.limit or None, width=1).astype(np.int64))
n = len(y_all)
perm = torch.randperm(n)
nll = nn.NLLLoss()
done, t_start = 0, None
for bi, i in enumerate(range(0, n, a.batch)):
    if bi == a.warmup_batches:
        t_start, done = time.perf_counter(), 0
    idx = perm[i:i + a.batch].numpy()
    x = to_input(x_all[idx], info['inputShape'], a.scale)
    y = y_all[idx]
    opt.zero_grad(set_to_none=True)
    loss = nll(torch.log(model(x).clamp_min(1e-7)), y)
    loss.backward()
    opt.step()
    done += len(idx)
secs = time.perf_counter() - t_start
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'batch': a.batch, 'images': done,
                  'msPer1000': secs * 1000 / done * 1000, 'finalLoss': float(loss), **({'memberOf': info['memberOf']} if 'memberOf' in info else {})}))
