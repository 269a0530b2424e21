#!/usr/bin/env bash
# The main job on a built-in default: the 2-layer `tiny` PaLM model with
# PaLM's 2D layout on a 2x2 mesh is generated, partitioned into the program
# each of the 4 devices runs, and its collectives are reported. (Compiling
# and running it under mpirun comes with the CPU backend.)
set -euo pipefail
build="${1:-build}"
gen="$build/bin/palm-gen"
opt="$build/bin/palm-opt"
args=(--preset tiny --layout palm-2d --mesh data=2,model=2)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== palm-gen ${args[*]} --stats"
"$gen" "${args[@]}" --stats
"$gen" "${args[@]}" -o "$tmp/global.mlir"

echo
echo "== palm-opt -palm-spmd-pipeline=explain=true: why each collective of layer 0 is there"
"$opt" "$tmp/global.mlir" -palm-spmd-pipeline=explain=true \
  -mlir-print-op-on-diagnostic=false -o "$tmp/local.mlir" 2>&1 |
  grep -o "remark: .*" | grep "layers\.0\." | sed 's/^remark: /  /' | head -12

echo
echo "== the per-device program (first lines)"
sed -n '1,12p' "$tmp/local.mlir" | cut -c1-160

echo
echo "== palm-opt -palm-collective-report"
"$opt" "$tmp/global.mlir" -palm-spmd-pipeline -palm-collective-report -o /dev/null
