#!/usr/bin/env bash
# The main job on a built-in default: the 2-layer `tiny` PaLM model with
# PaLM's 2D layout on a 2x2 mesh is generated, partitioned (saying why each
# collective of the first layer is there), compiled, and run on 4 processes
# under mpirun; then its collectives are reported.
set -euo pipefail
build="${1:-build}"
gen="$build/bin/palm-gen"
opt="$build/bin/palm-opt"
compile="$build/bin/palm-compile"
args=(--preset tiny --layout palm-2d --mesh data=2,model=2)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== palm-gen ${args[*]} --stats"
"$gen" "${args[@]}" --stats
"$gen" "${args[@]}" -o "$tmp/tiny.mlir"

echo
echo "== why each collective of layer 0 is there (palm-opt -palm-spmd-pipeline=explain=true)"
"$opt" "$tmp/tiny.mlir" -palm-spmd-pipeline=explain=true \
  -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 |
  grep -o "remark: .*" | grep "layers\.0\." | sed 's/^remark: loc("[^"]*"): /  /' | head -12

echo
echo "== palm-compile tiny.mlir -o tiny --timing"
"$compile" "$tmp/tiny.mlir" -o "$tmp/tiny" --timing

echo
mpirun=(mpirun --oversubscribe -np 4)
if [ "$(id -u)" -eq 0 ]; then mpirun=(mpirun --allow-run-as-root --oversubscribe -np 4); fi
echo "== ${mpirun[*]} ./tiny --steps 3"
OPENBLAS_NUM_THREADS=1 "${mpirun[@]}" "$tmp/tiny" --steps 3

echo
echo "== palm-opt -palm-spmd-pipeline -palm-collective-report"
"$opt" "$tmp/tiny.mlir" -palm-spmd-pipeline -palm-collective-report -o /dev/null
