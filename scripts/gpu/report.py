#!/usr/bin/env python3
"""Turns the outputs of scripts/gpu_check.sh into its verdicts and the table
of docs/GPU.md. Reads, in RUNS: the training runs' iters.csv / epochs.csv, the
two evaluations of one checkpoint, the PyTorch benchmark JSON lines; in OUT:
results.tsv (stage results the shell recorded), tests.log (the unit tests,
with their "gpu-op" lines), env.txt. Writes OUT/table.md and prints it; exit
status 1 if any check failed. Standard library only.

Bounds (docs/GPU.md explains them):
  GPU float32 vs CPU, per-step training loss, 20 steps:   max rel. diff <= 1e-3
  GPU TF32 vs CPU:          first step <= 1e-2, every step <= 5e-2
  GPU in chunks of one worker vs one chunk (float32):     every step <= 1e-4
  one checkpoint evaluated on the GPU and on the CPU:    test loss rel. diff <= 1e-3
  final test loss of each GPU run vs the CPU run:         as the training bound
  speed: bigbatch images/s >= PyTorch images/s on ResNet-50 at batch 256
"""
import argparse
import csv
import json
import os
import re
import sys


def read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return None


def losses(runs, name):
    rows = read_csv(os.path.join(runs, name, "iters.csv"))
    return [float(r["loss"]) for r in rows] if rows else None


def test_loss(runs, name):
    rows = read_csv(os.path.join(runs, name, "epochs.csv"))
    if not rows:
        return None
    for r in reversed(rows):
        if r.get("test_loss") not in (None, "", "nan", "-nan"):
            return float(r["test_loss"])
    return None


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def speed(runs, name, skip=10):
    """bigbatch images/s after `skip` warm-up steps: total images / total time"""
    rows = read_csv(os.path.join(runs, name, "iters.csv"))
    if not rows or len(rows) <= skip:
        return None
    rows = rows[skip:]
    t = sum(1.0 / float(r["img_s"]) for r in rows if float(r["img_s"]) > 0)
    return len(rows) / t if t > 0 else None


def batch_of(runs, name):
    try:
        with open(os.path.join(runs, name, "config.json")) as f:
            return int(json.load(f)["batch-size"])
    except (OSError, ValueError, KeyError):
        return None


def torch_speed(runs, name):
    try:
        with open(os.path.join(runs, name)) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    d = json.loads(line)
                    return d.get("img_s"), d
    except (OSError, ValueError):
        pass
    return None, None


def eval_loss(path):
    try:
        with open(path) as f:
            m = re.search(r"loss ([0-9.eE+-]+)", f.read())
            return float(m.group(1)) if m else None
    except OSError:
        return None


class Table:
    def __init__(self):
        self.rows, self.failed = [], 0

    def add(self, check, ok, measured, bound):
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        self.failed += status == "FAIL"
        self.rows.append((check, status, measured, bound))


def training_checks(t, runs):
    cpu = losses(runs, "r20_cpu")
    cpu_test = test_loss(runs, "r20_cpu")
    for name, label, b0, ball in (("r20_gpu_fp32", "GPU float32", 1e-3, 1e-3), ("r20_gpu_tf32", "GPU TF32", 1e-2, 5e-2)):
        g = losses(runs, name)
        check = f"ResNet-20 training, {label} vs CPU, same seed: loss per step"
        if not cpu or not g or len(g) != len(cpu):
            t.add(check, None, f"missing run ({'CPU' if not cpu else label})", "")
            continue
        d = [rel(a, b) for a, b in zip(g, cpu)]
        ok = d[0] <= b0 and max(d) <= ball
        t.add(check, ok, f"{len(d)} steps: first {d[0]:.1e}, max {max(d):.1e}; loss {cpu[0]:.4f} -> {cpu[-1]:.4f} (CPU), "
              f"{g[0]:.4f} -> {g[-1]:.4f} (GPU)", f"first <= {b0:.0e}, every <= {ball:.0e}")
        gt = test_loss(runs, name)
        if gt is not None and cpu_test is not None:
            t.add(f"ResNet-20 final test loss, {label} vs CPU", rel(gt, cpu_test) <= ball,
                  f"{gt:.5f} vs {cpu_test:.5f} ({rel(gt, cpu_test):.1e})", f"<= {ball:.0e}")
    one, chunks = losses(runs, "r20_gpu_fp32"), losses(runs, "r20_gpu_chunks")
    check = "GPU: 8 workers in 3 chunks (3, 3, 2) vs in one (float32)"
    if one and chunks and len(one) == len(chunks):
        d = max(rel(a, b) for a, b in zip(chunks, one))
        t.add(check, d <= 1e-4, f"max loss rel. diff {d:.1e}", "<= 1e-4")
    else:
        t.add(check, None, "missing run", "")
    eg, ec = eval_loss(os.path.join(runs, "eval_gpu.txt")), eval_loss(os.path.join(runs, "eval_cpu.txt"))
    check = "GPU checkpoint evaluated with --device cuda and --device cpu"
    if eg is not None and ec is not None:
        t.add(check, rel(eg, ec) <= 1e-3, f"test loss {eg:.4f} vs {ec:.4f}", "<= 1e-3")
    else:
        t.add(check, None, "missing evaluation", "")


def op_checks(t, out):
    """gpu-op lines of the unit tests, one row per operator (float32 and TF32 together)"""
    ops = {}
    try:
        with open(os.path.join(out, "tests.log")) as f:
            text = f.read()
    except OSError:
        t.add("unit tests on the GPU (bb_tests)", None, "no tests.log", "")
        return
    for line in text.splitlines():
        if not line.startswith("gpu-op "):
            continue
        parts = line.split()
        name, mode, verdict = parts[1], parts[2], parts[-1]
        m = re.search(r" y\s+(\S+)\s+dx\s+(\S+)\s+dparam\s+(\S+)\s+stats\s+(\S+)\s+eval\s+(\S+)", line)
        if m:
            worst = max(float(v) for v in m.groups())
            desc = f"{worst:.1e}"
        else:
            desc = re.sub(r"\s+bound .*$", "", " ".join(parts[3:]))[:110]
        b = re.search(r"bound (\S+ ?\S*)\s+(PASS|FAIL)$", line)
        ops.setdefault(name, []).append((mode, verdict, desc, b.group(1) if b else ""))
    if not ops:
        skips = sorted(set(re.findall(r"^  skip: (.*)$", text, re.M)))
        t.add("operators on the GPU vs CPU", False, "no gpu-op lines" + (f" (tests skipped: {'; '.join(skips)})" if skips else ""),
              "all operators")
    for name, entries in ops.items():
        ok = all(v == "PASS" for _, v, _, _ in entries)
        t.add(f"op {name}: GPU vs CPU, forward and backward", ok, "; ".join(f"{m} {d}" for m, _, d, _ in entries),
              "; ".join(f"{m} {b}" for m, _, _, b in entries))
    m = re.search(r"^(\d+) passed, (\d+) failed$", text, re.M)
    failed = re.findall(r"^FAIL (\S+)", text, re.M)
    if m:
        t.add("unit tests (CPU, host engine, GPU)", int(m.group(2)) == 0,
              f"{m.group(1)} passed, {m.group(2)} failed" + (f": {', '.join(failed)}" if failed else ""), "all pass")
    else:
        t.add("unit tests (CPU, host engine, GPU)", False, "no summary line (crashed or timed out?)", "all pass")


def speed_rows(runs):
    rows, verdicts = [], []
    for label, ours, theirs, decisive in (
            ("ResNet-20, 1x28x28, batch 256 (n = 32)", "bench_r20", "torch_r20.json", False),
            ("ResNet-50, 3x224x224, batch 256 (n = 32)", "bench_r50", "torch_r50.json", True),
            ("ResNet-50, 3x224x224, batch 256 (n = 256)", "bench_r50_n256", "torch_r50.json", False)):
        a = speed(runs, ours)
        b, info = torch_speed(runs, theirs)
        if a is None and b is None:
            continue
        ratio = a / b if a and b else None
        rows.append((label, a, b, ratio))
        if decisive:
            verdicts.append((f"speed: {label}, bigbatch >= PyTorch", None if ratio is None else ratio >= 1.0,
                             f"{a or 0:.0f} vs {b or 0:.0f} images/s (x{ratio:.2f})" if ratio else "missing run", ">= x1.00"))
    return rows, verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", required=True)
    a = ap.parse_args()
    t = Table()
    try:
        with open(os.path.join(a.out, "results.tsv")) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 3:
                    t.add(p[0], None if p[1] == "SKIP" else p[1] == "PASS", p[2], p[3] if len(p) > 3 else "")
    except OSError:
        pass
    op_checks(t, a.out)
    training_checks(t, a.runs)
    srows, sverdicts = speed_rows(a.runs)
    for v in sverdicts:
        t.add(*v)
    lines = []
    try:
        with open(os.path.join(a.out, "env.txt")) as f:
            lines += ["Machine: " + "; ".join(l.strip() for l in f if l.strip()), ""]
    except OSError:
        pass
    lines += ["| check | result | measured | bound |", "|---|---|---|---|"]
    lines += [f"| {c} | {s} | {m} | {b} |" for c, s, m, b in t.rows]
    if srows:
        lines += ["", "Training throughput (images/s, steady state; bigbatch: full `bigbatch train` steps with data "
                  "loading, PyTorch: eager float32/TF32 NCHW, cudnn.benchmark, one batch kept on the GPU):", "",
                  "| model | bigbatch | PyTorch | bigbatch / PyTorch |", "|---|---|---|---|"]
        for label, x, y, r in srows:
            fx, fy = (f"{v:.0f}" if v else "-" for v in (x, y))
            lines.append(f"| {label} | {fx} | {fy} | {f'{r:.2f}' if r else '-'} |")
    passed = sum(r[1] == "PASS" for r in t.rows)
    lines += ["", f"{passed} passed, {t.failed} failed, {sum(r[1] == 'SKIP' for r in t.rows)} skipped"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(text)
    print(text)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
