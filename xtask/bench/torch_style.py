"""The PyTorch side of `cargo xtask bench style`.

One L-BFGS step of style transfer on the shared VGG16, the same work as
crates/glassbox-synthesis/examples/style_bench.rs: caffe preprocessing, activations after each ReLU, content
loss mean((F - P)^2) at block4_conv2, style loss sum_l 0.2 mean((G_l - A_l)^2) with G = F F^T / (C H W) at
block1_conv1 ... block5_conv1, total = content + 1e3 style; targets computed once; torch.optim.LBFGS (lr 1,
history 100, no line search) from the content image. Images: uniform noise in 0..255 of size 256x256
(style_lbfgs_256) or 512x512 (style_lbfgs_512). One sample = one iteration, timed from one closure call
to the next (the network forward and backward, plus LBFGS's two-loop recursion), in ms, after --warmup.

Set up as a speed-minded user would: the weights do not require gradients (only the image's is computed),
the targets are computed under torch.no_grad(). With --compile the loss function goes through
torch.compile (inductor); its first call, which compiles, is timed apart as "compile_s".
"""
import argparse
import json
import resource
import os
import sys
import time

import torch
import torch.nn.functional as F

# The model and losses are tests/fixtures/style_torch.py's, shared with the parity fixture.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
from style_torch import CONTENT, STYLE, features, gram, load_weights  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--weights")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    size = {"style_lbfgs_256": 256, "style_lbfgs_512": 512}[a.case]
    path = a.weights or os.path.join(os.environ["GLASSBOX_WEIGHTS"], "vgg16_features_hed.safetensors")
    w = load_weights(path)
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, size, size, generator=g) * 255
    style = torch.rand(1, 3, size, size, generator=g) * 255
    with torch.no_grad():
        target = features(w, content, [CONTENT])[0]
        grams = [gram(f) for f in features(w, style, STYLE)]

    def loss_fn(x):
        taps = features(w, x, [CONTENT] + STYLE)
        style_loss = sum(0.2 * F.mse_loss(gram(f), a_) for f, a_ in zip(taps[1:], grams))
        return F.mse_loss(taps[0], target) + 1e3 * style_loss

    compile_s = None
    if a.compile:
        loss_fn = torch.compile(loss_fn)
        x = content.clone().requires_grad_(True)
        t0 = time.perf_counter()
        loss_fn(x).backward()
        compile_s = time.perf_counter() - t0
    image = content.clone().requires_grad_(True)
    steps = a.warmup + a.reps + 1
    opt = torch.optim.LBFGS([image], lr=1, max_iter=steps, max_eval=steps * 2, history_size=100)
    starts = []

    def closure():
        starts.append(time.perf_counter())
        opt.zero_grad()
        loss = loss_fn(image)
        loss.backward()
        return loss

    opt.step(closure)
    # Closure call k+1 starts right after iteration k's two-loop recursion: the same span as glassbox's
    # end-of-iteration to end-of-iteration.
    samples = [(b - a_) * 1e3 for a_, b in zip(starts, starts[1:])][a.warmup:a.warmup + a.reps]
    peer = f"PyTorch {torch.__version__} {'torch.compile' if a.compile else 'eager'} ({a.threads} threads)"
    line = {"case": a.case, "unit": "ms", "samples": samples, "peer": peer}
    if compile_s is not None:
        line["compile_s"] = compile_s
    # The process's peak resident memory (Linux reports ru_maxrss in KiB), as glassbox's side reports it.
    line["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(line))


if __name__ == "__main__":
    main()
