#!/usr/bin/env python3
"""The PyTorch side of the GPU speed comparison (scripts/gpu_check.sh, docs/GPU.md).

Trains the same networks as bigbatch -- ResNet-20 (CIFAR style, option-A
shortcuts, width 16) and ResNet-50 (ImageNet style, projection shortcuts,
stride on the 3x3 convolution as torchvision) -- with SGD (momentum 0.9,
weight decay 1e-4) and cross-entropy, on one fixed random batch kept on the
device (no data loading), in eager mode, float32 NCHW. TF32 is allowed for
convolutions (PyTorch's default) and for matrix products (as bigbatch uses it
for its linear layer), and cudnn.benchmark is on, so PyTorch picks its fastest
convolution algorithms as bigbatch does. Prints one JSON line with images/s
over the timed steps (after warm-up steps), measured end to end with one
synchronization at each end.

usage: torch_resnet.py --model resnet50 --batch 256 --shape 3x224x224 --classes 100
On the CPU (--device cpu; threads from OMP_NUM_THREADS) --channels-last 1
runs the model and its input in the channels-last memory format.
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ShortcutA(nn.Module):
    """He et al. 2016 option A: subsample by stride, zero-pad channels evenly."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.lo, self.hi = stride, (cout - cin) // 2, cout - cin - (cout - cin) // 2

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.lo, self.hi))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Identity() if stride == 1 and cin == cout else ShortcutA(cin, cout, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, 4 * mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * mid)
        self.down = None
        if stride != 1 or cin != 4 * mid:
            self.down = nn.Sequential(nn.Conv2d(cin, 4 * mid, 1, stride, bias=False), nn.BatchNorm2d(4 * mid))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def resnet_cifar(depth, cin, classes, width=16):
    n = (depth - 2) // 6
    layers = [nn.Conv2d(cin, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c = width
    for s in range(3):
        for b in range(n):
            layers.append(Basic(c, width << s, 2 if s > 0 and b == 0 else 1))
            c = width << s
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def resnet50(cin, classes, width=64):
    layers = [nn.Conv2d(cin, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = width
    for s, blocks in enumerate([3, 4, 6, 3]):
        for b in range(blocks):
            layers.append(Bottleneck(c, width << s, 2 if s > 0 and b == 0 else 1))
            c = 4 * (width << s)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet50", choices=["resnet20", "resnet50"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--shape", default="3x224x224", help="CxHxW")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tf32", type=int, default=1)
    ap.add_argument("--channels-last", type=int, default=0, choices=[0, 1])
    a = ap.parse_args()
    c, h, w = (int(v) for v in a.shape.split("x"))
    dev = torch.device(a.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            print(json.dumps({"framework": "pytorch", "error": "CUDA not available"}))
            return 2
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = bool(a.tf32)
        torch.backends.cuda.matmul.allow_tf32 = bool(a.tf32)
    torch.manual_seed(1)
    model = (resnet50(c, a.classes) if a.model == "resnet50" else resnet_cifar(20, c, a.classes)).to(dev)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, c, h, w, device=dev)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    dt = time.perf_counter() - t0
    out = {
        "framework": "pytorch", "torch": torch.__version__, "model": a.model, "batch": a.batch, "shape": a.shape,
        "classes": a.classes, "steps": a.steps, "img_s": a.steps * a.batch / dt, "step_ms": 1e3 * dt / a.steps,
        "loss": float(loss), "tf32": a.tf32, "channels_last": a.channels_last, "cudnn_benchmark": dev.type == "cuda",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "params": sum(p.numel() for p in model.parameters()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
