#!/usr/bin/env bash
# Creates BUILD_DIR/jax-venv: a virtual environment of Debian's
# /usr/bin/python3 with pinned JAX (CPU), optax and numpy wheels from PyPI,
# the independent autodiff/optimizer oracle of the training tests
# (test/e2e/jax_palm.py, jax_optimizer.py, test_jax_palm.py), and the
# safetensors library, the independent reader of exported checkpoints
# (test/e2e/palm-ckpt.test).
#
#   scripts/jax-venv.sh BUILD_DIR
#
# Cached: BUILD_DIR/jax-venv/palm-requirements.txt records the pinned list
# the environment was built with, written last; when it equals the list
# below the script does nothing (a second run costs a file comparison). A
# missing or different stamp (an interrupted run, a changed pin) rebuilds
# the environment from scratch. Wheels only (--only-binary), nothing is
# compiled. Needs python3-venv (scripts/install-deps.sh) and PyPI access
# the first time.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$1
VENV="$BUILD_DIR/jax-venv"
STAMP="$VENV/palm-requirements.txt"
PYTHON=/usr/bin/python3

# Every package the environment holds, pinned (pip freeze of a fresh install
# of jax[cpu]==0.4.38 optax==0.2.4 numpy==2.2.1 safetensors==0.4.5 under
# Python 3.11).
REQUIREMENTS="absl-py==2.5.1
chex==0.1.90
etils==1.15.0
jax==0.4.38
jaxlib==0.4.38
ml_dtypes==0.6.0
numpy==2.2.1
opt_einsum==3.4.0
optax==0.2.4
safetensors==0.4.5
scipy==1.17.1
toolz==1.2.0
typing_extensions==4.16.0"

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ] &&
   [ "$(cat "$STAMP")" = "$REQUIREMENTS" ]; then
  exit 0
fi

if [ ! -x "$PYTHON" ]; then
  echo "jax-venv: error: $PYTHON not found (install python3: scripts/install-deps.sh)" >&2
  exit 1
fi
if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
  echo "jax-venv: error: $PYTHON cannot create virtual environments:" \
       "the Debian package python3-venv is missing" \
       "(sudo apt-get install python3-venv, or scripts/install-deps.sh)" >&2
  exit 1
fi

mkdir -p "$BUILD_DIR"
# One builder at a time (two build trees' targets, make -j).
if command -v flock >/dev/null; then
  exec 9>"$BUILD_DIR/jax-venv.lock"
  flock 9
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQUIREMENTS" ]; then
    exit 0
  fi
fi

echo "jax-venv: creating $VENV (jax, jaxlib, optax, numpy, safetensors wheels from PyPI)"
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
REQ_FILE="$VENV/palm-requirements.in"
printf '%s\n' "$REQUIREMENTS" > "$REQ_FILE"
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
     --no-input --only-binary=:all: -r "$REQ_FILE"; then
  echo "jax-venv: error: pip could not install the pinned wheels into $VENV" \
       "(is PyPI reachable?)" >&2
  exit 1
fi
"$VENV/bin/python" -c "import jax, jaxlib, optax, numpy, safetensors" || {
  echo "jax-venv: error: the new environment cannot import jax/optax" >&2
  exit 1
}
printf '%s' "$REQUIREMENTS" > "$STAMP"
echo "jax-venv: ready in $(( $(date +%s) - start )) s: $VENV"
