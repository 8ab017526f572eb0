#!/usr/bin/env bash
# The runs behind docs/lessons/path-tracing.md, in order; each writes its table (.md) and metrics.json under
# OUT (default out/path-tracing). Needs the release CLI (cargo build --release -p glassbox-cli) and, for the
# Mitsuba lines, .venv-bench with mitsuba (see xtask/bench/mitsuba_cornell.py). About 20 minutes on 2 cores (the door's reference alone takes 8).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/path-tracing}
BIN=${GLASSBOX_BIN:-${CARGO_TARGET_DIR:-target}/release/glassbox}
PY=${PY:-.venv-bench/bin/python}

# 1. Mitsuba's Cornell box at 1024 spp, two seeds: the reference statistics and the noise floor.
if [ ! -f "$OUT/mitsuba/mitsuba_cornell_spp1024_seed2.pfm" ]; then
  "$PY" xtask/bench/mitsuba_cornell.py reference --spp 1024 --seeds 1,2 --out-dir "$OUT/mitsuba" \
    --stats "$OUT/mitsuba/cornell_reference.json"
fi
# 2. Ours (NEE, Mitsuba's path integrator) at the same spp against Mitsuba's seed-1 image: relMSE and means.
"$BIN" render compare --scene cornell --spp 1024 --seeds 1,2 --integrators nee \
  --reference-pfm "$OUT/mitsuba/mitsuba_cornell_spp1024_seed1.pfm" --threads 2 --out "$OUT/cornell-vs-mitsuba"
# 3. Cornell box: plain vs guided at 1024 spp, against Mitsuba's image.
"$BIN" render compare --scene cornell --spp 1024 --seeds 1,2,3 --integrators plain,guided \
  --reference-pfm "$OUT/mitsuba/mitsuba_cornell_spp1024_seed1.pfm" --threads 2 --out "$OUT/cornell"
# 4. Light through a door at 1024 spp (128x128), plain vs guided, against NEE at 16384 spp.
"$BIN" render compare --scene door --size 128x128 --spp 1024 --seeds 1,2,3 --integrators plain,guided \
  --reference-spp 16384 --threads 2 --out "$OUT/door"
# 4b. The same at 256 spp, without and with Russian roulette from depth 5 (Mitsuba's rule), on step 4's reference.
DOOR_REF="$OUT/door/reference_door_128x128_nee_16384spp_seed1000.pfm"
"$BIN" render compare --scene door --size 128x128 --spp 256 --seeds 1,2,3 --integrators plain,guided \
  --reference-pfm "$DOOR_REF" --threads 2 --out "$OUT/door-256"
"$BIN" render compare --scene door --size 128x128 --spp 256 --seeds 1,2,3 --integrators plain,guided \
  --reference-pfm "$DOOR_REF" --rr-depth 5 --threads 2 --out "$OUT/door-rr5"
# 5. Sun and sky at 32 spp: cosine (plain), sky importance sampling, learned importance; NEE 2048 spp reference.
"$BIN" render compare --scene sky --spp 32 --seeds 1,2,3 --integrators plain,sky-is,learned \
  --reference-spp 2048 --threads 2 --out "$OUT/sky"
