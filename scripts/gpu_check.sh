#!/usr/bin/env bash
# Stacked seeds on a GPU: install tune-sched without Ray and Optuna (no package index needed), then time fno2d in
# 16-mixed through `tune-sched run`: 1 seed, 8 seeds stacked, 8 seeds in lockstep, and several runs sharing the
# GPU at once. Prints times, ms per seed-step and peak GPU memory; writes gpu_check.json/.txt into $OUT if set.
# About 2-4 minutes on an H200. See scripts/gpu_check.py for what each run is and the environment knobs;
# GPU_CHECK_CPU=1 runs it on a CPU with a small model (GPU_CHECK_SKIP_INSTALL=1 skips the install).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${GPU_CHECK_SKIP_INSTALL:-0}" != "1" ]; then
  "$PY" -m pip install -q --no-deps --no-index --no-build-isolation -e . || { echo "gpu_check: install failed"; exit 1; }
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
exec "$PY" scripts/gpu_check.py
