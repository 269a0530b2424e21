#!/usr/bin/env bash
# Builds, on this (CPU) machine, what the GPU machine needs, in one folder:
#   - cuda executables (one process, one GPU) of tiny and small (one
#     sequence) in f32 and bf16, of a ~1B-parameter PaLM config
#     (palm-1b.json, bf16): its forward and its training step (bf16 compute,
#     f32 master weights, AdamW), and of palm-8b's forward (bf16, 2
#     sequences); tiny's training step too, for a quick run;
#   - reference outputs of tiny and small from the CPU backend (f32), same
#     seed, so the GPU numbers can be checked without MLIR there;
#   - palm-gen statistics (FLOPs per token) for the MFU;
#   - the runtime's GPU unit tests and palmrt-cuda-bench (attention and
#     GEMM at palm-1b's sizes), with the Abseil libraries they link;
#   - run.py, which runs everything there and prints the tables, and
#     peers.py, the same models in PyTorch and JAX (bench/gpu/peers.py).
# The executables are stripped. With --pack the folder is also packed as
# out-dir.tar.xz (about 13 MB, where the folder is about 70 MB: over what a
# device call carries): unpack it on the GPU machine with tar -xJf, or with
# Python's tarfile where tar lacks xz.
# Usage: bench/gpu/prepare.sh [--pack] [build-dir] [out-dir]
# Then copy out-dir to the GPU machine and run: python3 out-dir/run.py
set -euo pipefail
pack=0
if [ "${1:-}" = --pack ]; then pack=1; shift; fi
build="$(cd "${1:-build}" && pwd)"
out="${2:-gpu-bench}"
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$out" && mkdir -p "$out/ref"
gen="$build/bin/palm-gen"
compile="$build/bin/palm-compile"

for preset in tiny small; do
  # small with one sequence: its reference logits (8 MB) keep the folder
  # well under what a device call carries (64 MiB).
  size=()
  [ "$preset" = small ] && size=(--batch 1)
  "$gen" --preset "$preset" "${size[@]}" --return-logits -o "$out/$preset.f32.mlir"
  "$compile" "$out/$preset.f32.mlir" -o "$out/$preset.cpu"
  "$out/$preset.cpu" --seed 7 --save-outputs "$out/ref/$preset" > /dev/null
  for dtype in f32 bf16; do
    "$gen" --preset "$preset" "${size[@]}" --dtype "$dtype" --return-logits -o "$out/$preset.$dtype.mlir"
    "$compile" "$out/$preset.$dtype.mlir" --target cuda -o "$out/$preset.$dtype.cuda"
  done
  "$gen" --preset "$preset" "${size[@]}" --stats --stats-format=json > "$out/$preset.stats.json"
done
"$gen" --config "$here/palm-1b.json" -o "$out/palm-1b.mlir"
"$compile" "$out/palm-1b.mlir" --target cuda -o "$out/palm-1b.cuda"
"$gen" --config "$here/palm-1b.json" --stats --stats-format=json > "$out/palm-1b.stats.json"
# Training steps: bf16 compute with f32 master weights (palm-gen's default
# for a bf16 --train) and AdamW, as the peers train.
for model in palm-1b tiny; do
  if [ "$model" = palm-1b ]; then src=(--config "$here/palm-1b.json"); else src=(--preset tiny --dtype bf16); fi
  "$gen" "${src[@]}" --train --optimizer adamw -o "$out/$model.train.mlir"
  "$compile" "$out/$model.train.mlir" --target cuda -o "$out/$model.train.cuda"
  "$gen" "${src[@]}" --train --optimizer adamw --stats --stats-format=json > "$out/$model.train.stats.json"
done
# palm-8b's forward on one GPU: 2 sequences of 2048.
"$gen" --preset palm-8b --batch 2 --dtype bf16 -o "$out/palm-8b.mlir"
"$compile" "$out/palm-8b.mlir" --target cuda -o "$out/palm-8b.cuda"
"$gen" --preset palm-8b --batch 2 --dtype bf16 --stats --stats-format=json > "$out/palm-8b.stats.json"
rm -f "$out"/*.cpu "$out"/*.mlir
# The runtime's GPU unit tests and the attention/GEMM timer, with the
# shared libraries they link that a GPU machine lacks (Abseil).
mkdir -p "$out/bin" "$out/lib"
for exe in "$build/runtime/palmrt-cuda-bench" \
           "$build/runtime/tests/palmrt-cuda-tests" \
           "$build/runtime/tests/palmrt-cudnn-tests"; do
  if [ ! -x "$exe" ]; then
    echo "prepare.sh: $exe is not built (a build without CUDA or tests?)" >&2
    exit 1
  fi
  cp "$exe" "$out/bin/"
  ldd "$exe" | awk '/=> \// {print $3}' | grep -E 'libabsl|libgtest|libgmock' |
    xargs -r cp -L -t "$out/lib/"
done
cp "$here/run.py" "$here/peers.py" "$here/../../test/e2e/palm_shards.py" "$out/"
# Symbols are not needed there; stripping saves a tenth of the size.
strip "$out"/*.cuda "$out"/bin/*
if [ "$pack" = 1 ]; then
  tar -cf - -C "$(dirname "$out")" "$(basename "$out")" | xz -T0 -6 > "$out.tar.xz"
  echo "packed $out.tar.xz"
fi
echo "prepared $out: copy it to the GPU machine and run: python3 $out/run.py"
