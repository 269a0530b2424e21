#!/usr/bin/env bash
# Creates a virtual environment with a pinned PyTorch for the CPU benchmarks
# (bench/cpu_train.py, bench/cpu_forward.py), from PyPI only.
#
#   bench/torch-venv.sh [VENV]        (default: build/bench-venv)
#
# then run a benchmark with VENV/bin/python (or give it --venv VENV).
#
# Why not plain `pip install torch`: PyPI's only Linux x86-64 torch wheels are
# the CUDA builds, whose dependencies add triton, the CUDA Python bindings and
# the CUDA libraries. The CPU wheel index (download.pytorch.org) is not
# reachable from here. The CUDA build runs on a CPU-only machine, but its
# libraries are linked (DT_NEEDED) against cudart, cuBLAS, cuDNN, cuFFT,
# cuSPARSE(Lt), cuFile, CUPTI, NCCL, NVRTC, nvJitLink and NVSHMEM, so
# `import torch` fails without them: a `--no-deps` torch alone does not load.
# So torch is installed with --no-deps, plus the pure-Python packages it
# imports and exactly those shared-library wheels; triton (torch.compile on
# GPUs), cuda-bindings, cuda-toolkit (a metapackage), nvtx, cccl (headers)
# and cuSOLVER (loaded only by torch.linalg on a GPU) are left out. About
# 2.3 GB of wheels, 4.1 GB installed, about 2 minutes.
#
# Cached: VENV/palm-requirements.txt records the list the environment was
# built with, written last; when it equals the list below the script does
# nothing. Otherwise the environment is rebuilt from scratch. Wheels only.
set -euo pipefail

VENV=${1:-build/bench-venv}
STAMP="$VENV/palm-requirements.txt"
PYTHON=${PYTHON:-/usr/bin/python3}

# Pure-Python dependencies of torch 2.15.0 (its Requires-Dist, resolved under
# Python 3.11) and numpy for the benchmarks' checks.
PYTHON_REQUIREMENTS="filelock==4.3.1
fsspec==2026.9.0
Jinja2==3.1.6
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
numpy==2.4.6
sympy==1.14.0
typing_extensions==4.16.0"
# The shared libraries torch 2.15.0's libtorch_*.so need at load time, in
# the versions torch==2.15.0 pins (or resolves to) on PyPI.
LIBRARY_REQUIREMENTS="nvidia-cublas==13.4.1.3
nvidia-cuda-cupti==13.2.86
nvidia-cuda-nvrtc==13.2.86
nvidia-cuda-runtime==13.2.86
nvidia-cudnn-cu13==9.26.0.51
nvidia-cufft==12.2.0.57
nvidia-cufile==1.17.1.22
nvidia-cusparse==12.7.10.12
nvidia-cusparselt-cu13==0.8.1
nvidia-nccl-cu13==2.30.7
nvidia-nvjitlink==13.5.37
nvidia-nvshmem-cu13==3.7.2"
TORCH="torch==2.15.0"
REQUIREMENTS="$PYTHON_REQUIREMENTS
$LIBRARY_REQUIREMENTS
$TORCH"

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ] &&
   [ "$(cat "$STAMP")" = "$REQUIREMENTS" ]; then
  exit 0
fi
if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
  echo "torch-venv: error: $PYTHON cannot create virtual environments" \
       "(python3-venv missing?)" >&2
  exit 1
fi

echo "torch-venv: creating $VENV ($TORCH, CPU use, wheels from PyPI)"
start=$(date +%s)
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
REQ_FILE="$VENV/palm-requirements.in"
printf '%s\n' "$REQUIREMENTS" > "$REQ_FILE"
# --no-deps for everything: the list above is complete, and torch's own
# metadata would pull in the CUDA extras left out on purpose.
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
     --no-input --only-binary=:all: --no-deps -r "$REQ_FILE"; then
  echo "torch-venv: error: pip could not install the pinned wheels into" \
       "$VENV (is PyPI reachable?)" >&2
  exit 1
fi
# It must import and multiply on the CPU.
"$VENV/bin/python" - <<'EOF' || { echo "torch-venv: error: the new environment cannot run torch on the CPU" >&2; exit 1; }
import torch
a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
got = (a @ a.t()).tolist()
want = [[sum(a[i, k].item() * a[j, k].item() for k in range(4))
         for j in range(3)] for i in range(3)]
assert got == want, (got, want)
print("torch-venv: torch %s imports; a CPU matmul is right; %d threads"
      % (torch.__version__, torch.get_num_threads()))
EOF
printf '%s' "$REQUIREMENTS" > "$STAMP"
echo "torch-venv: ready in $(( $(date +%s) - start )) s: $VENV"
