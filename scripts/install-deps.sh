#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages palm builds and tests with.
# Idempotent: only packages that are missing are installed, so a second run
# costs a dpkg query and nothing else.
set -euo pipefail

PACKAGES=(
  # Compiler: LLVM/MLIR 22 headers, CMake configs, tools (lit, FileCheck, not).
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22
  # Build.
  cmake ninja-build g++ make python3
  # Runtime: Abseil, OpenBLAS, MPI. GoogleTest for its unit tests.
  libabsl-dev libopenblas-dev openmpi-bin libopenmpi-dev libgtest-dev
  # Runtime: nlohmann-json (header-only) for its JSON files.
  nlohmann-json3-dev
  # Runtime: zlib's crc32 for checkpoint checksums.
  zlib1g-dev
  # palm-tokenize: the SentencePiece library and its spm_* command-line tools.
  libsentencepiece-dev sentencepiece
  # Test tools: numpy for the independent reference implementation.
  python3-numpy
  # Test tools: venv for scripts/jax-venv.sh (JAX/optax oracle of training).
  python3-venv
)
# Not from Debian: the CUDA 13 toolkit under /usr/local/cuda (nvcc, ptxas,
# headers). With it the runtime also builds its cuda backend and the ptxas
# checks run; without it only the host backend is built and they skip.

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
