#!/usr/bin/python3
"""PyTorch CPU reference for `bigbatch bench train`: the same ResNet-20
(CIFAR style, option-A shortcuts) on random 1x28x28 inputs, 10 classes, full
training steps (forward, cross-entropy, backward, SGD with momentum 0.9 and
weight decay), timed step by step after a warm-up; --channels-last 1 keeps
the model and its input in PyTorch's channels-last memory format (NHWC).

Prints one line in the format bench/vs_torch.sh reads:
    torch V: threads T batch B | step ms median M (min A, max B) | images/s X | GFLOP/s G |
    peak RSS R MiB | CPU time per step C ms: I images per CPU second | loss L

Run with Debian's python3-torch (/usr/bin/python3) and set OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS to the thread count (vs_torch.sh does), or the two thread
pools oversubscribe the cores.
"""
import argparse
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Basic residual block; option A: stride-2 subsampling plus zero channels."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x
        if self.stride != 1 or self.extra:
            s = x[:, :, ::self.stride, ::self.stride]
            s = F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(y + s)


class ResNet20(nn.Module):
    def __init__(self, channels=1, classes=10, width=16, blocks=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for stage in range(3):
            cout = width << stage
            for b in range(blocks):
                layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def forward_flops(model, shape):
    """2 x multiply-adds of the convolutions and linear layers, per image."""
    macs = 0

    def hook(m, inp, out):
        nonlocal macs
        per_out = m.in_features if isinstance(m, nn.Linear) else \
            m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        macs += out[0].numel() * per_out

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, *shape))
    for h in hs:
        h.remove()
    return 2 * macs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--channels-last", type=int, default=0, choices=[0, 1])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    shape = (1, 28, 28)
    model = ResNet20()
    flops = forward_flops(model, shape)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(args.batch, *shape)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))
    times = []
    cpu0 = 0.0
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    med = statistics.median(times)
    ips = args.batch / med
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {torch.__version__}: threads {args.threads} batch {args.batch} {'channels-last' if args.channels_last else 'NCHW'} | step ms median {med * 1e3:.2f} "
          f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f}) | images/s {ips:.1f} | "
          f"GFLOP/s {ips * 3 * flops / 1e9:.1f} | peak RSS {rss:.1f} MiB | "
          f"CPU time per step {cpu / args.steps * 1e3:.2f} ms: {args.batch * args.steps / cpu:.1f} images per CPU second | "
          f"loss {loss.item():.4f}", flush=True)


if __name__ == "__main__":
    main()
