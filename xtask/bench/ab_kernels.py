#!/usr/bin/env python3
"""A/B of two builds of glassbox's kernels: two kernels_bench binaries, run alternately, medians.

Builds of two commits side by side answer "did this change make a case slower?" without PyTorch, on a
machine whose timings drift (the order alternates each round so drift hits both sides alike):

    git worktree add ../ab-old OLD_COMMIT
    (cd ../ab-old && cargo build --release -p glassbox-tensor --example kernels_bench --target-dir ../target-ab-old)
    cargo build --release -p glassbox-tensor --example kernels_bench
    python3 xtask/bench/ab_kernels.py ../target-ab-old/release/examples/kernels_bench \
        target/release/examples/kernels_bench mnist_train,vgg_forward,lstm_train 5

Prints a Markdown table: the median over ROUNDS x 5 repetitions per side (2 warm-up runs each), and
new/old (for images/s or GFLOP/s above 1 is faster; for ms below 1 is faster). RAYON_NUM_THREADS=2.

AB_OLD_ENV / AB_NEW_ENV ("K=V,K=V") add variables to one side, so one binary can be set against itself:
    AB_OLD_ENV=GLASSBOX_PIN_THREADS=0 python3 xtask/bench/ab_kernels.py KB KB char_lstm_train 6
"""
import json, subprocess, sys, statistics, os
old, new = sys.argv[1], sys.argv[2]
cases = sys.argv[3].split(",")
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
env = dict(os.environ, RAYON_NUM_THREADS="2")


def side_env(var):
    extra = dict(kv.split("=", 1) for kv in os.environ.get(var, "").split(",") if kv)
    return dict(env, **extra)


envs = {"old": side_env("AB_OLD_ENV"), "new": side_env("AB_NEW_ENV")}
res = {c: {"old": [], "new": []} for c in cases}
for r in range(rounds):
    for c in cases:
        order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
        for name, binary in order:
            out = subprocess.run([binary, "--case", c, "--reps", "5", "--warmup", "2"], env=envs[name],
                                 capture_output=True, text=True, check=True).stdout
            line = [l for l in out.splitlines() if l.startswith("{")][-1]
            d = json.loads(line)
            res[c][name] += d["samples"]
            unit = d["unit"]
    print(f"round {r+1} done", file=sys.stderr, flush=True)
print("| case | old median | new median | new/old |")
print("|---|---|---|---|")
for c in cases:
    o, n = statistics.median(res[c]["old"]), statistics.median(res[c]["new"])
    print(f"| {c} | {o:.4g} | {n:.4g} | {n/o:.3f} |")
