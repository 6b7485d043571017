"""Builds the same network as our committed model in PyTorch, from its TensorFlow.js Layers
model.json (Keras layer configs), and loads our trained weights from the tfjs weight files.

Keras is channels-last (NHWC) and flattens H, W, C; PyTorch convs are NCHW. The conv kernels are
transposed and the rows of the first Dense after a Flatten are permuted, so the torch model computes
the same function without an extra transpose at run time.
"""
import copy
import gzip
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ACTS = {
    None: None, 'linear': None, 'relu': nn.ReLU, 'softmax': lambda: nn.Softmax(dim=1), 'sigmoid': nn.Sigmoid,
    'tanh': nn.Tanh, 'elu': nn.ELU, 'selu': nn.SELU, 'swish': nn.SiLU, 'silu': nn.SiLU, 'relu6': nn.ReLU6,
}


def keras_layers(model_json):
    topo = model_json.get('modelTopology', model_json)
    if 'model_config' in topo:
        topo = topo['model_config']
    cfg = topo['config']
    return cfg if isinstance(cfg, list) else cfg['layers']


def pair(v, dflt):
    if v is None:
        return (dflt, dflt)
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[-1]))


def same_pad(size, k, s, d=1):
    """TF 'same' padding (before, after) along one axis."""
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


class Pad(nn.Module):
    def __init__(self, lrtb, value=0.0):
        super().__init__()
        self.lrtb, self.value = lrtb, value

    def forward(self, x):
        return F.pad(x, self.lrtb, value=self.value)


class Scale(nn.Module):
    def __init__(self, scale, offset):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x):
        return x * self.scale + self.offset


def input_shape(layers):
    c = layers[0]['config']
    bis = c.get('batch_input_shape') or c.get('batch_shape') or c.get('batchInputShape')
    if bis:
        return [int(d) for d in bis[1:]]
    return [28, 28, 1]


def build(layers):
    """Returns (nn.Sequential, plan) where plan lists (layer name, module, kind) for weight loading."""
    shape = input_shape(layers)
    mods, plan = [], []
    flatten_from = None  # (H, W, C) of the last Flatten, for the next Dense
    if len(shape) == 1:
        pass
    for layer in layers:
        cls, c = layer['class_name'], layer['config']
        name = c.get('name', cls)
        if cls == 'InputLayer':
            continue
        if cls == 'Reshape':
            shape = [int(d) for d in c['target_shape']]
            if len(shape) == 3:
                mods.append(nn.Unflatten(1, (shape[2], shape[0], shape[1])) if shape[2] == 1 else None)
                if shape[2] != 1:
                    raise ValueError(f'{name}: Reshape to multi-channel NHWC is not supported')
            continue
        if cls in ('Conv2D', 'DepthwiseConv2D', 'SeparableConv2D'):
            h, w, cin = shape
            kh, kw = pair(c.get('kernel_size'), 1)
            sh, sw = pair(c.get('strides'), 1)
            dh, dw = pair(c.get('dilation_rate'), 1)
            pad = c.get('padding', 'valid')
            bias = c.get('use_bias', True)
            if pad == 'same':
                pt, pb = same_pad(h, kh, sh, dh)
                pl, pr = same_pad(w, kw, sw, dw)
                oh, ow = -(-h // sh), -(-w // sw)
                if (pt, pl) == (pb, pr):
                    tpad = (pt, pl)
                else:
                    mods.append(Pad((pl, pr, pt, pb)))
                    tpad = (0, 0)
            else:
                tpad = (0, 0)
                oh, ow = (h - ((kh - 1) * dh + 1)) // sh + 1, (w - ((kw - 1) * dw + 1)) // sw + 1
            if cls == 'Conv2D':
                cout = int(c['filters'])
                m = nn.Conv2d(cin, cout, (kh, kw), (sh, sw), tpad, (dh, dw), bias=bias)
                mods.append(m)
                plan.append((name, m, 'conv'))
            else:
                dm = int(c.get('depth_multiplier', 1))
                m = nn.Conv2d(cin, cin * dm, (kh, kw), (sh, sw), tpad, (dh, dw), groups=cin, bias=bias and cls == 'DepthwiseConv2D')
                mods.append(m)
                cout = cin * dm
                if cls == 'SeparableConv2D':
                    cout = int(c['filters'])
                    pm = nn.Conv2d(cin * dm, cout, 1, bias=bias)
                    mods.append(pm)
                    plan.append((name, (m, pm), 'separable'))
                else:
                    plan.append((name, m, 'depthwise'))
            shape = [oh, ow, cout]
        elif cls in ('MaxPooling2D', 'AveragePooling2D'):
            h, w, ch = shape
            ph, pw = pair(c.get('pool_size'), 2)
            sh, sw = pair(c.get('strides'), ph) if c.get('strides') is not None else (ph, pw)
            if c.get('padding', 'valid') == 'same':
                pt, pb = same_pad(h, ph, sh)
                pl, pr = same_pad(w, pw, sw)
                if pt or pb or pl or pr:
                    mods.append(Pad((pl, pr, pt, pb), float('-inf') if cls == 'MaxPooling2D' else 0.0))
                h2, w2 = -(-h // sh), -(-w // sw)
                hp, wp = h + pt + pb, w + pl + pr
            else:
                hp, wp = h, w
                h2, w2 = (h - ph) // sh + 1, (w - pw) // sw + 1
            mods.append((nn.MaxPool2d if cls == 'MaxPooling2D' else nn.AvgPool2d)((ph, pw), (sh, sw)))
            shape = [h2, w2, ch]
        elif cls in ('GlobalAveragePooling2D', 'GlobalMaxPooling2D'):
            mods.append(nn.AdaptiveAvgPool2d(1) if cls == 'GlobalAveragePooling2D' else nn.AdaptiveMaxPool2d(1))
            mods.append(nn.Flatten())
            shape = [shape[-1]]
        elif cls == 'Flatten':
            if len(shape) == 3:
                flatten_from = tuple(shape)
            mods.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        elif cls == 'Dense':
            if len(shape) != 1:
                raise ValueError(f'{name}: Dense on a {len(shape)}-D input is not supported')
            units = int(c['units'])
            m = nn.Linear(shape[0], units, bias=c.get('use_bias', True))
            mods.append(m)
            plan.append((name, m, ('dense', flatten_from)))
            flatten_from = None
            shape = [units]
        elif cls == 'BatchNormalization':
            ch = shape[-1]
            m = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(ch, eps=c.get('epsilon', 1e-3), momentum=1 - c.get('momentum', 0.99),
                                                                         affine=True)
            mods.append(m)
            plan.append((name, m, ('bn', c.get('center', True), c.get('scale', True))))
        elif cls in ('Dropout', 'SpatialDropout2D'):
            mods.append((nn.Dropout if cls == 'Dropout' else nn.Dropout2d)(c.get('rate', 0.0)))
        elif cls in ('Activation', 'ReLU', 'Softmax', 'ELU', 'LeakyReLU'):
            act = {'ReLU': 'relu', 'Softmax': 'softmax', 'ELU': 'elu'}.get(cls, c.get('activation'))
            if cls == 'LeakyReLU':
                mods.append(nn.LeakyReLU(c.get('alpha', c.get('negative_slope', 0.3))))
            else:
                mods.append(ACTS[act]())
            continue
        elif cls == 'Rescaling':
            mods.append(Scale(float(c.get('scale', 1.0)), float(c.get('offset', 0.0))))
            continue
        elif cls in ('GaussianNoise', 'GaussianDropout', 'ActivityRegularization'):
            continue
        else:
            raise ValueError(f'{name}: layer class {cls} is not supported by the bench')
        act = c.get('activation')
        if cls in ('Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense') and act not in (None, 'linear'):
            if act not in ACTS:
                raise ValueError(f'{name}: activation {act} is not supported')
            mods.append(ACTS[act]())
    return nn.Sequential(*[m for m in mods if m is not None]), plan, input_shape(layers)


def read_weights(model_dir, model_json):
    """{name: np.ndarray} from the tfjs weight manifest (float32 only) plus the names in file order."""
    out, order = {}, []
    for group in model_json['weightsManifest']:
        # a combined ensemble's weights are stored gzipped (packages/model/src/model-files.ts)
        buf = b''.join((gzip.open if p.endswith('.gz') else open)(os.path.join(model_dir, p), 'rb').read() for p in group['paths'])
        off = 0
        for spec in group['weights']:
            if spec.get('quantization'):
                raise ValueError(f"{spec['name']}: quantized weights are not supported")
            dtype = {'float32': np.float32, 'int32': np.int32}[spec.get('dtype', 'float32')]
            n = int(np.prod(spec['shape'])) if spec['shape'] else 1
            arr = np.frombuffer(buf, dtype=dtype, count=n, offset=off).reshape(spec['shape'])
            off += n * 4
            out[spec['name']] = arr
            order.append(spec['name'])
    return out, order


def _layer_weights(weights, order, name):
    found = {}
    for w in order:
        parts = w.split('/')
        if len(parts) >= 2 and parts[-2] == name:
            found[parts[-1]] = weights[w]
    return found


def load_weights(plan, weights, order):
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32))
    for name, m, kind in plan:
        w = _layer_weights(weights, order, name)
        if not w:
            raise ValueError(f'no weights named */{name}/* in the manifest')
        with torch.no_grad():
            if kind == 'conv':
                m.weight.copy_(t(w['kernel'].transpose(3, 2, 0, 1)))
                if m.bias is not None:
                    m.bias.copy_(t(w['bias']))
            elif kind == 'depthwise':
                k = w['depthwise_kernel']  # kh, kw, cin, dm
                m.weight.copy_(t(k.transpose(2, 3, 0, 1).reshape(-1, 1, k.shape[0], k.shape[1])))
                if m.bias is not None:
                    m.bias.copy_(t(w['bias']))
            elif kind == 'separable':
                dm_, pm = m
                k = w['depthwise_kernel']
                dm_.weight.copy_(t(k.transpose(2, 3, 0, 1).reshape(-1, 1, k.shape[0], k.shape[1])))
                pm.weight.copy_(t(w['pointwise_kernel'].transpose(3, 2, 0, 1)))
                if pm.bias is not None:
                    pm.bias.copy_(t(w['bias']))
            elif kind[0] == 'dense':
                k = w['kernel']  # in, out
                if kind[1] is not None:
                    h, wd, ch = kind[1]
                    k = k.reshape(h, wd, ch, -1).transpose(2, 0, 1, 3).reshape(h * wd * ch, -1)
                m.weight.copy_(t(k.T))
                if m.bias is not None:
                    m.bias.copy_(t(w['bias']))
            elif kind[0] == 'bn':
                ch = m.num_features
                m.weight.copy_(t(w['gamma']) if kind[2] else torch.ones(ch))
                m.bias.copy_(t(w['beta']) if kind[1] else torch.zeros(ch))
                m.running_mean.copy_(t(w['moving_mean']))
                m.running_var.copy_(t(w['moving_variance']))


def block_groups(w, max_groups=64):
    """The most groups G (dividing both of w's first two sizes) for which w [out, in, ...] is zero
    outside its G diagonal blocks; 1 when it is not block diagonal."""
    out_f, in_f = w.shape[0], w.shape[1]
    for g in range(min(out_f, in_f, max_groups), 1, -1):
        if out_f % g or in_f % g:
            continue
        o, i = out_f // g, in_f // g
        mask = torch.ones(out_f, in_f, dtype=torch.bool)
        for b in range(g):
            mask[b * o:(b + 1) * o, b * i:(b + 1) * i] = False
        if not w.abs().reshape(out_f, in_f, -1).amax(dim=2)[mask].any():
            return g
    return 1


class Members(nn.Module):
    """An ensemble run as its members, the mean of their logits through the softmax: what the wide
    net computes (its last layer averages the members' logits), without its zero blocks."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        return torch.softmax(sum(m(x) for m in self.members) / len(self.members), dim=1)


def split_members(seq):
    """An ensemble written as one wide net (packages/model/src/ensemble.ts: the first convolution
    reads the shared image, every later convolution and dense layer is block diagonal, the last dense
    layer averages the members' logits) as a Members module, or None when seq is not one. The peer
    then does the work ONNX Runtime does with our export's grouped convolutions: measured here, the
    members as separate nets were faster in PyTorch 1.13 than grouped convolutions (groups=M), and both
    faster than the wide net, which multiplies the zero blocks."""
    weighted = [m for m in seq if isinstance(m, (nn.Conv2d, nn.Linear))]
    if len(weighted) < 3 or not isinstance(weighted[-1], nn.Linear) or not isinstance(seq[-1], nn.Softmax):
        return None
    inner = {block_groups(m.weight.detach()) for m in weighted[1:-1]}
    if len(inner) != 1 or (g := inner.pop()) == 1 or weighted[0].weight.shape[0] % g:
        return None
    members = []
    for b in range(g):
        mods, first = [], True
        with torch.no_grad():
            for m in list(seq)[:-1]:
                if isinstance(m, nn.Conv2d):
                    o = m.out_channels // g
                    i = m.in_channels if first else m.in_channels // g
                    c = nn.Conv2d(i, o, m.kernel_size, m.stride, m.padding, m.dilation, bias=m.bias is not None)
                    cols = slice(0, i) if first else slice(b * i, (b + 1) * i)
                    c.weight.copy_(m.weight[b * o:(b + 1) * o, cols])
                    if m.bias is not None:
                        c.bias.copy_(m.bias[b * o:(b + 1) * o])
                    mods.append(c)
                    first = False
                elif isinstance(m, nn.Linear):
                    last = m is weighted[-1]
                    i = m.in_features // g
                    o = m.out_features if last else m.out_features // g
                    lin = nn.Linear(i, o, bias=m.bias is not None)
                    rows = slice(0, o) if last else slice(b * o, (b + 1) * o)
                    # the last layer holds each member's kernel divided by M and the mean of their biases
                    lin.weight.copy_(m.weight[rows, b * i:(b + 1) * i] * (g if last else 1))
                    if m.bias is not None:
                        lin.bias.copy_(m.bias[rows])
                    mods.append(lin)
                else:
                    mods.append(copy.deepcopy(m))
        members.append(nn.Sequential(*mods).eval())
    return Members(members)


class FlipAverage(nn.Module):
    """The model card's inference.flipAverage: each image and its mirror image through the net, their
    log-probabilities (= logits up to a per-row constant) averaged, then the softmax."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = x.shape[0]
        p = self.net(torch.cat([x, torch.flip(x, dims=[-1])]))
        logp = torch.log(torch.clamp(p, min=1e-30))
        return torch.softmax((logp[:n] + logp[n:]) / 2, dim=1)


def load_model(model_dir):
    """(model, info) — info says whether our trained weights were loaded or why not, and how many
    members an ensemble was run as (split_members)."""
    with open(os.path.join(model_dir, 'model.json')) as f:
        mj = json.load(f)
    layers = keras_layers(mj)
    model, plan, in_shape = build(layers)
    info = {'weights': 'random', 'inputShape': in_shape, 'params': sum(p.numel() for p in model.parameters())}
    try:
        weights, order = read_weights(model_dir, mj)
        load_weights(plan, weights, order)
        info['weights'] = 'loaded'
        members = split_members(model)
        if members is not None:
            model = members
            info['members'] = len(members.members)
    except Exception as e:  # time is what counts; say why accuracy is missing
        info['weightsError'] = f'{type(e).__name__}: {e}'
    card_path = os.path.join(model_dir, 'model-card.json')
    # torch_train.py unwraps this again: it times the net itself
    if os.path.exists(card_path):
        with open(card_path) as f:
            if (json.load(f).get('inference') or {}).get('flipAverage'):
                model = FlipAverage(model)
                info['flipAverage'] = True
    return model, info


def to_input(u8, in_shape, scale):
    """uint8 N×784 → float tensor in the model's input layout (NCHW for images)."""
    x = torch.from_numpy(u8).float()
    if scale == 'unit':
        x.mul_(1.0 / 255.0)
    elif scale.startswith('std:'):
        mean, std = (float(v) for v in scale[4:].split(','))
        x.mul_(1.0 / 255.0).sub_(mean).div_(std)
    if len(in_shape) == 3:
        return x.view(-1, in_shape[2], in_shape[0], in_shape[1])
    return x


def read_u8(path, n=None, width=784):
    a = np.fromfile(path, dtype=np.uint8)
    a = a.reshape(-1, width) if width > 1 else a
    return a if n is None else a[:n]
