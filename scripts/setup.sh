#!/usr/bin/env bash
# Set up onecycle on a fresh machine: Fashion-MNIST (Debian package, where apt is available),
# a virtual environment in .venv, PyTorch (the CPU build where there is no NVIDIA GPU) and the package.
#   bash scripts/setup.sh          # runtime only
#   bash scripts/setup.sh --dev    # plus the test and lint tools, and Chromium (Debian's package, as root) for
#                                  # the test that opens the report in a browser
set -euo pipefail
cd "$(dirname "$0")/.."
extras="digits"
[ "${1:-}" = "--dev" ] && extras="dev"

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }) \
        || echo "note: could not install dataset-fashion-mnist; onecycle will download Fashion-MNIST or fall back to digits"
fi

if [ "$extras" = dev ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null 2>&1; }) \
        || echo "note: could not install chromium; the test that opens the report in a browser will be skipped"
fi

python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! $py -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        $py -m pip install -q torch
    else
        $py -m pip install -q "torch==2.13.0"   # the CPU build where one is provided locally
    fi
fi
$py -m pip install -q -e ".[$extras]"
