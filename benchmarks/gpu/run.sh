#!/usr/bin/env bash
# Runs torch_handler.py on a machine that has PyTorch (and an NVIDIA GPU) but no network: a
# venv that sees the machine's own torch and numpy, with arterys_gateway and pydicom installed
# from the wheels in WHEEL_DIR. Made beforehand, where PyPI is reachable:
#   .venv/bin/pip wheel --no-deps -w target/gpu-wheels ./python pydicom
set -euo pipefail
wheels=${1:?usage: benchmarks/gpu/run.sh WHEEL_DIR [torch_handler.py options]}
shift
python=${PYTHON:-python3}
venv=${TMPDIR:-/tmp}/arterys-gpu-venv
"$python" -c 'import torch, numpy' || { echo "$python has no torch or numpy" >&2; exit 1; }
"$python" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --find-links "$wheels" arterys_gateway pydicom
exec "$venv/bin/python" "$(dirname "$0")/torch_handler.py" "$@"
