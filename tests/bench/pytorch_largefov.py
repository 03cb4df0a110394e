#!/usr/bin/python3
"""The peer for `deeplab bench forward`: the same DeepLab-LargeFOV (pool5a included) in
PyTorch on the CPU, timed the same way (median of repeated runs after warm-up).

Prints one JSON object per measurement, with the same keys as `deeplab bench forward --json`.
Exits 0 with a message on stderr when python3-torch is not installed.
"""
import argparse
import json
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("pytorch_largefov.py: skipped, python3-torch is not installed (apt-get install python3-torch)",
          file=sys.stderr)
    sys.exit(0)


def conv(cin, cout, k=3, pad=1, dilation=1):
    return [nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation), nn.ReLU(inplace=True)]


def largefov(classes=21):
    layers, cin = [], 3
    for block, (width, count) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        d = 2 if block == 5 else 1
        for _ in range(count):
            layers += conv(cin, width, pad=d, dilation=d)
            cin = width
        layers.append(nn.MaxPool2d(3, stride=2 if block <= 3 else 1, padding=1, ceil_mode=True))
    layers.append(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True))  # pool5a
    layers += conv(512, 1024, pad=12, dilation=12) + [nn.Dropout(0.5)]
    layers += conv(1024, 1024, k=1, pad=0) + [nn.Dropout(0.5)]
    layers.append(nn.Conv2d(1024, classes, 1))
    return nn.Sequential(*layers)


def conv_gflop(model, size):
    total, h = 0.0, size
    x = torch.zeros(1, 3, size, size)
    hooks = []
    def count(m, inp, out):
        nonlocal total
        total += 2.0 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(count))
    with torch.no_grad():
        model(x)
    for hk in hooks:
        hk.remove()
    return total / 1e9


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    n = len(ms)
    return ms[n // 2] if n % 2 else 0.5 * (ms[n // 2 - 1] + ms[n // 2]), ms[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=321)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backward", action="store_true", help="time forward + loss + backward")
    ap.add_argument("--sgd", action="store_true",
                    help="with --backward: a whole training iteration, the SGD update (momentum 0.9, weight decay "
                         "5e-4, Caffe's multipliers) included, as `deeplab bench train` times")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = largefov()
    x = torch.rand(a.batch, 3, a.size, a.size) * 250 - 120
    gflop = conv_gflop(model, a.size) * a.batch
    if a.backward:
        model.train()
        out_size = model(x[:1]).shape[-1]
        labels = torch.randint(0, 21, (a.batch, out_size, out_size))
        loss_fn = nn.CrossEntropyLoss(ignore_index=255, reduction="sum")
        optimizer = None
        if a.sgd:
            convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
            groups = [{"params": [m.weight for m in convs[:-1]], "lr": 1e-3, "weight_decay": 5e-4},
                      {"params": [m.bias for m in convs[:-1]], "lr": 2e-3, "weight_decay": 0.0},
                      {"params": [convs[-1].weight], "lr": 1e-2, "weight_decay": 5e-4},
                      {"params": [convs[-1].bias], "lr": 2e-2, "weight_decay": 0.0}]
            optimizer = torch.optim.SGD(groups, lr=1e-3, momentum=0.9)
        def step():
            model.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), labels) / a.batch
            loss.backward()
            if optimizer is not None:
                optimizer.step()
        median, best = timed(step, a.warmup, a.repeats)
        gflop *= 3  # forward, weight gradients, input gradients (conv1_1's input gradient included)
    else:
        model.eval()
        def fwd():
            with torch.no_grad():
                model(x)
        median, best = timed(fwd, a.warmup, a.repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kind = ("train_iteration" if a.sgd else "train_step") if a.backward else "forward"
    print(json.dumps({"benchmark": kind, "peer": "pytorch " + torch.__version__,
                      "model": "largefov", "height": a.size, "width": a.size, "batch": a.batch,
                      "threads": a.threads, "median_ms": round(median, 3), "min_ms": round(best, 3),
                      "gflop": round(gflop, 3), "gflops_per_s": round(gflop / (median / 1e3), 1),
                      "peak_rss_mb": round(rss, 1), "repeats": a.repeats}))


if __name__ == "__main__":
    main()
