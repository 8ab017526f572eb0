"""The PyTorch side of `cargo xtask bench kernels`.

Runs one benchmark case the same way as glassbox's `kernels_bench` example and prints one JSON line:
{"case": ..., "unit": ..., "samples": [...], "peer": ...} where each sample is one timed repetition's
throughput (or time) after warm-up. The cases (shapes, input distributions, optimizers, losses) must stay
identical to crates/glassbox-tensor/examples/kernels_bench.rs.

Set up as a speed-minded user would: AdamW with fused=True (one kernel per step over all parameters, as
glassbox's fused step), inference under torch.inference_mode(). With --compile the model (or the loss, for
training) goes through torch.compile (inductor); the first step, which compiles, is timed apart and reported
as "compile_s", and is not among the samples.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The character LSTM's vocabulary: the course's Holmes corpus has 89 symbols.
SYMBOLS = 89

# Where the case runs (--device); inputs are drawn on the CPU with the seeded generator, then moved.
DEVICE = torch.device("cpu")
# The cases that run on a GPU too (what `cargo xtask gpu-check` times).
GPU_CASES = ("mnist_train", "mnist_infer", "vgg_input_grad", "vgg_forward", "conv64_forward", "conv64_backward")


def sync():
    """Waits for the GPU's queued kernels, so a timed step includes them."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def uniform(shape, scale, g):
    """Uniform in (-scale, scale), as glassbox's `random`."""
    return (torch.rand(shape, generator=g) * 2 - 1) * scale


def mnist_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def conv_autoencoder():
    """The course's convolutional autoencoder (7x7x3 code), logits out; binary cross-entropy in the loss."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 3, 3, padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(16, 1, 3, padding=1),
    )


class CharLstm(nn.Module):
    """Two LSTM(128) over one-hot vectors, a dense head on the last step (the course's model)."""

    def __init__(self, symbols=SYMBOLS, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(symbols, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, symbols)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class CharLstmIds(nn.Module):
    """The same network fed symbol ids: the first layer's input product with a one-hot vector is a column
    of its input weights, so it is looked up (an embedding of weight_ih), as glassbox's forward_one_hot
    does; nn.LSTM cannot take precomputed input gates, so that layer's recurrence is written out."""

    def __init__(self, symbols=SYMBOLS, hidden=128):
        super().__init__()
        first = nn.LSTM(symbols, hidden, batch_first=True)
        self.weight_ih = first.weight_ih_l0
        self.weight_hh = first.weight_hh_l0
        self.bias = nn.Parameter((first.bias_ih_l0 + first.bias_hh_l0).detach())
        self.upper = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, symbols)
        self.hidden = hidden

    def forward(self, ids):
        gates_in = F.embedding(ids, self.weight_ih.t()) + self.bias
        batch, steps = ids.shape
        h = gates_in.new_zeros(batch, self.hidden)
        c = gates_in.new_zeros(batch, self.hidden)
        hs = []
        for t in range(steps):
            i, f, g, o = torch.addmm(gates_in[:, t], h, self.weight_hh.t()).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
        out, _ = self.upper(torch.stack(hs, 1))
        return self.head(out[:, -1])


class DcganGenerator(nn.Module):
    """glassbox-generative's DCGAN generator (gan.rs): 100 -> 128x7x7 -> 64x14x14 -> 1x28x28."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(100, 128 * 7 * 7, bias=False)
        self.bn0 = nn.BatchNorm1d(128 * 7 * 7)
        self.up0 = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.up1 = nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1)

    def forward(self, z):
        h = F.relu(self.bn0(self.dense(z))).view(-1, 128, 7, 7)
        h = F.relu(self.bn1(self.up0(h)))
        return torch.tanh(self.up1(h))


class DcganDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 64, 4, stride=2, padding=1)
        self.conv1 = nn.Conv2d(64, 128, 4, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(128)
        self.dense = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv0(x), 0.2)
        h = F.leaky_relu(self.bn(self.conv1(h)), 0.2)
        return self.dense(h.flatten(1))


def dcgan_step(compile_):
    """One step of both players as glassbox's train_gan takes it: the discriminator on a real batch and a
    generated one (drawn without a graph), then the generator through the discriminator with the
    discriminator's weights frozen (no gradients computed for them), fused Adam 2e-4 / beta1 0.5."""
    g = torch.Generator().manual_seed(0)
    gen, disc = DcganGenerator().train(), DcganDiscriminator().train()
    for m in (*gen.modules(), *disc.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                m.weight.normal_(0.0, 0.02, generator=g)
    real = uniform((128, 1, 28, 28), 1.0, g)
    ones, zeros = torch.ones(128, 1), torch.zeros(128, 1)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)

    def d_loss(real, fake):
        bce = F.binary_cross_entropy_with_logits
        return 0.5 * (bce(disc(real), ones) + bce(disc(fake), zeros))

    def g_loss(z):
        return F.binary_cross_entropy_with_logits(disc(gen(z)), ones)

    d_loss_fn = torch.compile(d_loss) if compile_ else d_loss
    g_loss_fn = torch.compile(g_loss) if compile_ else g_loss

    def step():
        with torch.no_grad():
            fake = gen(torch.randn(128, 100, generator=g))
        opt_d.zero_grad(set_to_none=True)
        d_loss_fn(real, fake).backward()
        opt_d.step()
        disc.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        g_loss_fn(torch.randn(128, 100, generator=g)).backward()
        opt_g.step()
        disc.requires_grad_(True)
    return step


VGG16_CONVS = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), "M",
               (256, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512)]


def vgg16_features(g):
    """VGG16's convolutions with glassbox's bench weights: uniform in +-sqrt(2 / (9 in)), biases +-0.01."""
    layers = []
    for item in VGG16_CONVS:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            conv = nn.Conv2d(item[0], item[1], 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(uniform(conv.weight.shape, (2.0 / (9 * item[0])) ** 0.5, g))
                conv.bias.copy_(uniform(conv.bias.shape, 0.01, g))
            layers += [conv, nn.ReLU()]
    return nn.Sequential(*layers)


def timed(step, reps, warmup):
    for _ in range(warmup):
        step()
    sync()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        sync()
        out.append(time.perf_counter() - t)
    return out


def train_step(model, x, y, compile_, criterion=F.cross_entropy):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)

    def loss(x, y):
        return criterion(model(x), y)

    loss_fn = torch.compile(loss) if compile_ else loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(x, y).backward()
        opt.step()
    return step


def char_lstm_every_step(compile_, g):
    """The character lesson's default step, as tests/fixtures/reference_char_lstm.py trains it: one-hot
    windows of 100 symbols, batch 32, nn.LSTM(89, 256, 2), the head at every step, the gradient norm
    clipped at 1, fused Adam 2e-3."""
    lstm, head = nn.LSTM(SYMBOLS, 256, num_layers=2), nn.Linear(256, SYMBOLS)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3, fused=True)
    ids = torch.randint(0, SYMBOLS, (100, 32), generator=g)
    y = torch.randint(0, SYMBOLS, (100 * 32,), generator=g)

    def loss(ids, y):
        seq, _ = lstm(F.one_hot(ids, SYMBOLS).float())
        return F.cross_entropy(head(seq).reshape(-1, SYMBOLS), y)
    loss_fn = torch.compile(loss) if compile_ else loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(ids, y).backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return step


def inference_step(model, x, compile_):
    model.eval()
    run = torch.compile(model) if compile_ else model

    def step():
        with torch.inference_mode():
            run(x)
    return step


def case_step(case, compile_):
    """(unit, work per step, step function); the unit is a throughput of `work` items or "ms"."""
    g = torch.Generator().manual_seed(0)
    if DEVICE.type != "cpu" and case not in GPU_CASES:
        raise SystemExit(f"case {case} runs on the CPU only; on a GPU: {', '.join(GPU_CASES)}")
    if case in ("mnist_train", "mnist_infer"):
        model = mnist_cnn().to(DEVICE)
        x = torch.rand(128, 1, 28, 28, generator=g).to(DEVICE)
        y = (torch.arange(128) * 7 % 10).to(DEVICE)
        if case == "mnist_train":
            return "images/s", 128, train_step(model.train(), x, y, compile_)
        return "images/s", 128, inference_step(model, x, compile_)
    if case == "conv_ae_train":
        x = torch.rand(128, 1, 28, 28, generator=g)
        return "images/s", 128, train_step(
            conv_autoencoder().train(), x, x, compile_, F.binary_cross_entropy_with_logits
        )
    if case == "dcgan_train":
        return "images/s", 128, dcgan_step(compile_)
    if case in ("lstm_train", "lstm_train_ids"):
        ids = torch.randint(0, SYMBOLS, (128, 40), generator=g)
        y = torch.arange(128) * 13 % SYMBOLS
        if case == "lstm_train":
            return "sequences/s", 128, train_step(CharLstm(), F.one_hot(ids, SYMBOLS).float(), y, compile_)
        return "sequences/s", 128, train_step(CharLstmIds(), ids, y, compile_)
    if case == "char_lstm_train":
        return "sequences/s", 32, char_lstm_every_step(compile_, g)
    if case in ("vgg_input_grad", "vgg_forward"):
        model = vgg16_features(g).to(DEVICE)
        img = uniform((1, 3, 224, 224), 1.0, g).to(DEVICE)
        if case == "vgg_forward":
            return "ms", None, inference_step(model, img, compile_)
        for p in model.parameters():
            p.requires_grad_(False)

        def objective(x):
            return model(x).square().mean()
        run = torch.compile(objective) if compile_ else objective

        def step():
            x = img.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(run(x), x)
        return "ms", None, step
    if case in ("conv64_forward", "conv64_backward"):
        conv = nn.Conv2d(64, 64, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(uniform(conv.weight.shape, 0.06, g))
            conv.bias.copy_(uniform(conv.bias.shape, 0.06, g))
        conv = conv.to(DEVICE)
        x = uniform((8, 64, 56, 56), 1.0, g).to(DEVICE)
        if case == "conv64_forward":
            return "ms", None, inference_step(conv, x, compile_)
        xg = x.clone().requires_grad_(True)

        def objective(x):
            return conv(x).sum()
        run = torch.compile(objective) if compile_ else objective

        def step():
            conv.zero_grad(set_to_none=True)
            xg.grad = None
            run(xg).backward()
        return "ms", None, step
    if case == "conv_transpose_train":
        # The DCGAN generator's two transposed convolutions, forward and backward to the input, weights
        # and biases (kernels_bench.rs says why these shapes).
        up0 = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1)
        up1 = nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1)
        x = uniform((128, 128, 7, 7), 1.0, g)
        for m in (up0, up1):
            with torch.no_grad():
                m.weight.copy_(uniform(m.weight.shape, 0.05, g))
                m.bias.copy_(uniform(m.bias.shape, 0.05, g))
        xg = x.clone().requires_grad_(True)

        def objective(x):
            return up1(up0(x)).sum()
        run = torch.compile(objective) if compile_ else objective

        def step():
            up0.zero_grad(set_to_none=True)
            up1.zero_grad(set_to_none=True)
            xg.grad = None
            run(xg).backward()
        return "ms", None, step
    if case == "sgemm2048":
        a = uniform((2048, 2048), 1.0, g)
        b = uniform((2048, 2048), 1.0, g)
        c = torch.empty(2048, 2048)
        compiled = torch.compile(torch.mm) if compile_ else None

        def step():
            # Into a preallocated result, as glassbox's side writes it (compiled code allocates its own).
            with torch.inference_mode():
                if compiled is None:
                    torch.mm(a, b, out=c)
                else:
                    compiled(a, b)
        return "GFLOP/s", 2 * 2048**3 / 1e9, step
    raise SystemExit(f"unknown case {case}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile (inductor) the model or loss")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the cases of GPU_CASES)")
    a = p.parse_args()
    global DEVICE
    DEVICE = torch.device(a.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {a.device}: this PyTorch {torch.__version__} sees no CUDA GPU")
    torch.set_num_threads(a.threads)
    unit, work, step = case_step(a.case, a.compile)
    line = {"case": a.case, "unit": unit}
    if a.compile:
        t = time.perf_counter()
        step()
        sync()
        line["compile_s"] = time.perf_counter() - t
    seconds = timed(step, a.reps, a.warmup)
    line["samples"] = [s * 1e3 for s in seconds] if unit == "ms" else [work / s for s in seconds]
    mode = "torch.compile" if a.compile else "eager"
    where = f" on {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda" else ""
    line["peer"] = f"PyTorch {torch.__version__} {mode}{where}"
    # The process's peak resident memory (Linux reports ru_maxrss in KiB), as glassbox's side reports it.
    line["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(line))


if __name__ == "__main__":
    main()
