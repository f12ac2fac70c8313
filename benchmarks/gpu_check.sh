#!/usr/bin/env bash
# The GPU side of the speed benchmark, a few minutes on one GPU: ResNet-56 images/s at batch 512 (bare loop vs
# onecycle train, with and without compile, bf16 and channels-last), the range test's overhead, and the time to 93%
# on Fashion-MNIST. Figures go to $OUT/gpu_check.json when $OUT is set, else benchmarks/results/gpu_check.json.
#   bash benchmarks/gpu_check.sh              # on the GPU
#   bash benchmarks/gpu_check.sh --dry-run    # the same steps on the CPU in seconds, tiny data
# The Python is $PYTHON, else .venv/bin/python, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || py=python3
PYTHONPATH="$PWD:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m benchmarks.speed.gpu_check "$@"
