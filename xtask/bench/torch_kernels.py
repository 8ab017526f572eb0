"""The PyTorch side of `cargo xtask bench kernels`.

Runs one benchmark case the same way as glassbox's `kernels_bench` example and prints one JSON line:
{"case": ..., "unit": ..., "samples": [...]} where each sample is one timed repetition's throughput
(or time) after warm-up. The cases (shapes, optimizers, losses) must stay identical to
crates/glassbox-tensor/examples/kernels_bench.rs.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mnist_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


class CharLstm(nn.Module):
    def __init__(self, symbols=99, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(symbols, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, symbols)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


VGG16_CONVS = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), "M",
               (256, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512)]


def vgg16_features():
    layers = []
    for item in VGG16_CONVS:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(item[0], item[1], 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def timed(step, reps, warmup):
    for _ in range(warmup):
        step()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        out.append(time.perf_counter() - t)
    return out


def run(case, reps, warmup):
    g = torch.Generator().manual_seed(0)
    if case in ("mnist_train", "mnist_infer"):
        model = mnist_cnn()
        x = torch.rand(128, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (128,), generator=g)
        if case == "mnist_train":
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

            def step():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        else:
            model.eval()

            def step():
                with torch.no_grad():
                    model(x)
        return "images/s", [128 / s for s in timed(step, reps, warmup)]
    if case == "lstm_train":
        model = CharLstm()
        idx = torch.randint(0, 99, (128, 40), generator=g)
        x = F.one_hot(idx, 99).float()
        y = torch.randint(0, 99, (128,), generator=g)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return "sequences/s", [128 / s for s in timed(step, reps, warmup)]
    if case == "vgg_input_grad":
        model = vgg16_features()
        for p in model.parameters():
            p.requires_grad_(False)
        img = torch.rand(1, 3, 224, 224, generator=g)

        def step():
            x = img.clone().requires_grad_(True)
            model(x).square().mean().backward()
        return "ms", [s * 1e3 for s in timed(step, reps, warmup)]
    if case == "vgg_forward":
        model = vgg16_features()
        img = torch.rand(1, 3, 224, 224, generator=g)

        def step():
            with torch.no_grad():
                model(img)
        return "ms", [s * 1e3 for s in timed(step, reps, warmup)]
    if case in ("conv64_forward", "conv64_backward"):
        conv = nn.Conv2d(64, 64, 3, padding=1)
        x = torch.rand(8, 64, 56, 56, generator=g)
        if case == "conv64_forward":
            def step():
                with torch.no_grad():
                    conv(x)
        else:
            xg = x.clone().requires_grad_(True)

            def step():
                conv.zero_grad()
                xg.grad = None
                conv(xg).sum().backward()
        return "ms", [s * 1e3 for s in timed(step, reps, warmup)]
    if case == "sgemm2048":
        a = torch.rand(2048, 2048, generator=g)
        b = torch.rand(2048, 2048, generator=g)
        c = torch.empty(2048, 2048)
        return "GFLOP/s", [2 * 2048**3 / s / 1e9 for s in timed(lambda: torch.mm(a, b, out=c), reps, warmup)]
    raise SystemExit(f"unknown case {case}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    unit, samples = run(a.case, a.reps, a.warmup)
    print(json.dumps({"case": a.case, "unit": unit, "samples": samples, "peer": f"PyTorch {torch.__version__}"}))


if __name__ == "__main__":
    main()
