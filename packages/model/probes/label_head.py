"""PyTorch probe: does a second head that names the photo's *label* (T-Shirt, Longsleeve, Shoes, Hat ...)
rank answers for review better than the answer's own probability?

The review decision needs P(the answer is right). A photo's label is a set of Fashion-MNIST classes (a
Shoes photo is right as Sandal, Sneaker or Ankle boot; a Longsleeve as T-shirt, Pullover or Shirt), so a
net can be sure an answer is right while its top-1 probability is low (spread over the set). A head on
the same features trained to name the label gives P(answer right) = sum of P(label) over the labels whose
set holds the answer (out-of-scope labels hold none, so they lower it too).

Same schedule as stages 6-8 of `pnpm train:recipe` (photo-heavy epochs, then all of Fashion-MNIST with
30 % photos and flips), from a Fashion-MNIST-only model; answers and scores with mirror averaging as
served. Data: `pnpm probe-data --out DIR` (this project's loaders and preprocessing). Run with the Debian
PyTorch (`apt-get install python3-torch`) from the repository root:

    python3 packages/model/probes/label_head.py --data DIR --init MODEL_DIR [--seed 1] [--aux 0.5]

Prints one JSON line: Fashion-MNIST test accuracy, photo strict / in-scope accuracy, out-of-scope AUROC,
and the auto-accepted share of in-scope validation photos by both scores, on the split (hindsight) and
out of fold (threshold chosen on half the senders at an aim, applied to the other half; 10 shuffles).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'bench', 'py'))
import kerasnet  # noqa: E402  (builds our tfjs model in PyTorch and loads its weights)

STRICT = {'T-Shirt', 'Pants', 'Dress', 'Outwear', 'Shirt', 'Shoes'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--init', required=True, help='a Fashion-MNIST-only model dir (model.json + weights)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--aux', type=float, default=0.5, help='weight of the label head loss (0: no head)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--save', help='write the validation probabilities (answers, labels) to this .npz')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    def u8(name, width=784):
        x = np.fromfile(os.path.join(a.data, name), np.uint8)
        return x.reshape(-1, width) if width > 1 else x

    fmx, fmy = u8('fm-train.u8')[:55000], u8('fm-train-labels.u8', 1)[:55000].astype(np.int64)
    tx, ty = u8('fm-test.u8'), u8('fm-test-labels.u8', 1).astype(np.int64)
    meta = json.load(open(os.path.join(a.data, 'photos.json')))
    V = meta['variants']
    tr, va = meta['train'], meta['validation']
    labels = sorted({p['label'] for p in tr + va})
    li = {l: i for i, l in enumerate(labels)}
    sets = {p['label']: p['classes'] for p in tr + va}
    lset = np.stack([np.isin(np.arange(10), sets[l]) for l in labels]).astype(np.float32)  # label x class
    trx = u8('photo-train.u8').reshape(len(tr), V, 784)
    trok = np.array([p['ok'] for p in tr], bool)
    trm = lset[[li[p['label']] for p in tr]]
    troos = np.array([p['outOfScope'] for p in tr])
    trl = np.array([li[p['label']] for p in tr])
    keep = [i for i, p in enumerate(va) if p['ok'][0]]
    vx = u8('photo-val.u8')[keep]
    va = [va[i] for i in keep]
    vm = lset[[li[p['label']] for p in va]] > 0
    voos = np.array([p['outOfScope'] for p in va])
    vstrict = np.array([p['label'] in STRICT for p in va])
    vsender = np.array([p['sender'] for p in va])

    model, _ = kerasnet.load_model(a.init)
    seq = model.net if hasattr(model, 'net') else model
    if isinstance(seq[-1], nn.Softmax):
        seq = seq[:-1]

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = seq[:-1], seq[-1]
            self.labels = nn.Linear(self.head.in_features, len(labels))

        def forward(self, x):
            f = self.body(x)
            return self.head(f), self.labels(f)

    net = TwoHeads()

    def prep(x):
        return torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 1, 28, 28)

    def flip(x, p=0.5):
        f = torch.from_numpy(rng.random(x.shape[0]) < p)
        x = x.clone()
        x[f] = torch.flip(x[f], dims=[-1])
        return x

    def shift(x, k=2):
        pad = F.pad(x, (k, k, k, k))
        dx, dy = rng.integers(-k, k + 1, len(x)), rng.integers(-k, k + 1, len(x))
        return torch.stack([pad[i, :, k + dy[i]:k + dy[i] + 28, k + dx[i]:k + dx[i] + 28] for i in range(len(x))])

    def stage(epochs, fm_per_epoch, share, lr, fm_flip):
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        n_ph = int(fm_per_epoch * share / (1 - share))
        nb = math.ceil((fm_per_epoch + n_ph) / 64)
        steps, step = epochs * nb, 0
        for _ in range(epochs):
            net.train()
            fm_idx = np.array_split(rng.permutation(len(fmx))[:fm_per_epoch], nb)
            ii = rng.integers(0, len(tr), n_ph)
            vv = rng.integers(0, V, n_ph)
            vv[~trok[ii, vv]] = 0
            ph_idx = np.array_split(np.arange(n_ph), nb)
            for b in range(nb):
                for g in opt.param_groups:
                    g['lr'] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                step += 1
                xf = prep(fmx[fm_idx[b]])
                if fm_flip:
                    xf = flip(xf)
                sel = ph_idx[b]
                xp = shift(flip(prep(trx[ii[sel], vv[sel]])))
                logits, label_logits = net(torch.cat([xf, xp]))
                lp = F.log_softmax(logits, 1)
                nf = len(xf)
                mask = torch.cat([F.one_hot(torch.from_numpy(fmy[fm_idx[b]]), 10).float(), torch.from_numpy(trm[ii[sel]])])
                oos = torch.cat([torch.zeros(nf, dtype=torch.bool), torch.from_numpy(troos[ii[sel]])])
                # the recipe's loss: -log max over the label's set; out-of-scope photos towards uniform at 0.5
                set_loss = -torch.where(mask > 0, lp, torch.full_like(lp, -1e9)).max(1).values
                loss = torch.where(oos, 0.5 * -lp.mean(1), set_loss).mean()
                if a.aux:
                    y = torch.from_numpy(trl[ii[sel]])
                    loss = loss + a.aux * F.cross_entropy(label_logits[nf:], y) * len(sel) / (nf + len(sel))
                opt.zero_grad()
                loss.backward()
                opt.step()

    stage(6, 20000, 0.6, 3e-4, False)
    stage(2, 55000, 0.3, 1e-4, True)

    net.eval()
    with torch.no_grad():
        fm = torch.cat([net(prep(tx[i:i + 1000]))[0] for i in range(0, len(tx), 1000)]).argmax(1).numpy()
        X = prep(vx)
        (c1, l1), (c2, l2) = net(X), net(torch.flip(X, dims=[-1]))
        P = torch.softmax((F.log_softmax(c1, 1) + F.log_softmax(c2, 1)) / 2, 1).numpy()
        PL = torch.softmax((F.log_softmax(l1, 1) + F.log_softmax(l2, 1)) / 2, 1).numpy()
    ans = P.argmax(1)
    right = vm[np.arange(len(vm)), ans]
    ins = np.where(~voos)[0]
    scores = {'top1': P.max(1)}
    if a.aux:
        scores['labelHead'] = (PL * lset[:, ans].T).sum(1)

    def accepted_share(score, idx, aim):
        o = idx[np.argsort(-score[idx])]
        cum = np.cumsum(right[o]) / np.arange(1, len(o) + 1)
        k = np.where(cum >= aim)[0]
        return (k.max() + 1) / len(o) if len(k) else 0.0, (score[o][k.max()] if len(k) else np.inf)

    def out_of_fold(score, aim, shuffles=10):
        r = np.random.default_rng(0)
        senders = np.unique(vsender[ins])
        n_acc = n_all = n_right = 0
        for _ in range(shuffles):
            half = set(r.permutation(senders)[: len(senders) // 2])
            a_side = np.array([s in half for s in vsender[ins]])
            for fit in (a_side, ~a_side):
                _, t = accepted_share(score, ins[fit], aim)
                acc = score[ins[~fit]] >= t
                n_acc += acc.sum()
                n_all += (~fit).sum()
                n_right += right[ins[~fit]][acc].sum()
        return round(n_acc / n_all, 3), round(n_right / max(n_acc, 1), 3)

    def auroc(pos, neg):
        return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())

    entropy = -(P * np.log(P + 1e-12)).sum(1)
    res = {
        'seed': a.seed,
        'aux': a.aux,
        'fashionMnistTest': round(float((fm == ty).mean()) * 100, 2),
        'strict': round(float(right[vstrict].mean()), 4),
        'inScope': round(float(right[ins].mean()), 4),
        'oosAurocEntropy': round(auroc(entropy[voos], entropy[~voos]), 3),
    }
    if a.aux:
        p_oos = PL[:, lset.sum(1) == 0].sum(1)
        res['oosAurocLabelHead'] = round(auroc(p_oos[voos], p_oos[~voos]), 3)
    for k, s in scores.items():
        res[k] = {
            'onSplit95': round(accepted_share(s, ins, 0.95)[0], 3),
            'onSplit97': round(accepted_share(s, ins, 0.97)[0], 3),
            **{f'outOfFold{int(aim * 100)}': out_of_fold(s, aim) for aim in (0.95, 0.96, 0.97)},
        }
    if a.save:
        np.savez(a.save, answers=P, labels=PL, label_names=np.array(labels))
    print(json.dumps(res))


if __name__ == '__main__':
    main()
