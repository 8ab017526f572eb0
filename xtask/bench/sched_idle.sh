#!/usr/bin/env bash
# How long the CPUs stood idle while a kernels_bench case ran, from the scheduler's own events (no
# sampling, so no profiler thread competing for the cores):
#
#   bash xtask/bench/sched_idle.sh target/release/examples/kernels_bench char_lstm_train
#
# Records sched_switch system-wide (needs perf and the right to trace) around RAYON_NUM_THREADS=2
# `kernels_bench --case CASE --reps 14 --warmup 2` and prints the idle time of all CPUs between the
# process's first and last switch, and the case's median. docs/benchmarks.md (tenth session) quotes it.
set -euo pipefail
bin=$1; case=${2:-char_lstm_train}
dir=$(mktemp -d)
perf record -q -a -e sched:sched_switch -c 1 -o "$dir/sw.data" -- sleep 7 &
recorder=$!
sleep 0.5
RAYON_NUM_THREADS=2 "$bin" --case "$case" --reps 14 --warmup 2 2>/dev/null | tail -1 > "$dir/run.json"
wait "$recorder"
perf script -i "$dir/sw.data" -F cpu,time,trace 2>/dev/null > "$dir/sw.txt"
name=$(basename "$bin" | cut -c1-15)
python3 - "$dir" "$name" <<'PY'
import json, re, statistics, sys
d, name = sys.argv[1], sys.argv[2]
ev = []
for line in open(f"{d}/sw.txt"):
    m = re.match(r"\[(\d+)\]\s+([\d.]+): prev_comm=(.*?) prev_pid=(\d+) .*==> next_comm=(.*?) next_pid=(\d+)", line)
    if m:
        ev.append((float(m[2]), int(m[1]), m[3], int(m[4]), m[5], int(m[6])))
ours = [e[0] for e in ev if e[2].startswith(name) or e[4].startswith(name)]
t0, t1 = min(ours), max(ours)
idle_since, idle = {}, 0.0
for t, cpu, _, prev, _, nxt in ev:
    if not t0 <= t <= t1:
        continue
    if nxt == 0:
        idle_since[cpu] = t
    elif prev == 0 and cpu in idle_since:
        idle += t - idle_since.pop(cpu)
run = json.load(open(f"{d}/run.json"))
print(f"window {t1 - t0:.3f} s, CPUs idle {idle * 1e3:.1f} ms, "
      f"median {statistics.median(run['samples']):.1f} {run['unit']}")
PY
rm -rf "$dir"
