#!/usr/bin/python3
"""ResNet-20 on Fashion-MNIST in PyTorch with bigbatch's recipe, to compare
end-to-end results (docs/TRAINING.md): kn = 256 as 8 workers of 32 (per-worker
batch norm, loss / kn), lr 0.1 with cosine decay per iteration, momentum 0.9,
weight decay 1e-4 on conv/fc weights, He init, N(0, 0.01) fc, zero-gamma,
random crops (pad 2) and flips, per-set mean/std normalization.
    /usr/bin/python3 bench/torch_fmnist.py EPOCHS [THREADS]
Data order and augmentation draws are numpy's, not bigbatch's: compare curves,
not bits."""
import gzip, math, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import ResNet20
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(1)
def idx(p, off):
    return np.frombuffer(gzip.open(p).read(), np.uint8, offset=off)
D = '/usr/share/datasets/fashion-mnist/'
names = sorted(os.listdir(D))
def find(k): return D + [n for n in names if k in n][0]
xtr = idx(find('train-images'), 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
ytr = idx(find('train-labels'), 8).astype(np.int64)
xte = idx(find('t10k-images'), 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
yte = idx(find('t10k-labels'), 8).astype(np.int64)
m, s = xtr.mean(), xtr.std()
xtr = (xtr - m) / s; xte = (xte - m) / s
net = ResNet20()
for mod in net.modules():
    if isinstance(mod, nn.Conv2d): nn.init.kaiming_normal_(mod.weight, mode='fan_in', nonlinearity='relu')
    if isinstance(mod, nn.Linear): nn.init.normal_(mod.weight, 0, 0.01); nn.init.zeros_(mod.bias)
for b in net.layers: nn.init.zeros_(b.bn2.weight)
for mod in net.modules():
    if isinstance(mod, nn.BatchNorm2d): mod.momentum = 0.1
decay = [p for n, p in net.named_parameters() if p.ndim > 1]
rest = [p for n, p in net.named_parameters() if p.ndim <= 1]
opt = torch.optim.SGD([{'params': decay, 'weight_decay': 1e-4}, {'params': rest, 'weight_decay': 0}], lr=0.1, momentum=0.9)
epochs = int(sys.argv[1]); kn, n = 256, 32
spe = len(xtr) // kn; total = epochs * spe
xt = torch.from_numpy(xtr); yt = torch.from_numpy(ytr)
rng = np.random.default_rng(1)
it = 0
for ep in range(epochs):
    net.train(); perm = rng.permutation(len(xtr)); t0 = time.time(); lsum = 0
    for j in range(spe):
        for g in opt.param_groups: g['lr'] = 0.5 * 0.1 * (1 + math.cos(math.pi * it / total))
        ids = perm[j * kn:(j + 1) * kn]
        x = F.pad(xt[ids], (2, 2, 2, 2))
        dx, dy = rng.integers(0, 5, kn), rng.integers(0, 5, kn)
        x = torch.stack([x[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(kn)])
        flip = torch.from_numpy(rng.random(kn) < 0.5)
        x[flip] = x[flip].flip(3)
        y = yt[ids]
        opt.zero_grad()
        for w in range(kn // n):   # per-worker BN: each worker's 32 samples, loss / kn
            out = net(x[w * n:(w + 1) * n])
            loss = F.cross_entropy(out, y[w * n:(w + 1) * n], reduction='sum') / kn
            loss.backward(); lsum += loss.item()
        opt.step(); it += 1
    net.eval(); correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 1000):
            correct += (net(torch.from_numpy(xte[i:i + 1000])).argmax(1).numpy() == yte[i:i + 1000]).sum()
    print(f"epoch {ep + 1}: train loss {lsum / spe:.4f} test err {100 - correct / 100:.2f}% ({time.time() - t0:.0f}s)", flush=True)
