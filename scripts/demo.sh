#!/usr/bin/env bash
# The main job on a built-in default. Until the partitioner and the runtime
# land, it parses and verifies a one-layer PaLM parallel block with its
# shardings, prints it back, and reports the sharding rule of every op.
set -euo pipefail
build="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
example="$root/examples/tiny-parallel-block.mlir"

echo "== palm-opt: parse, verify and print $example"
"$build/bin/palm-opt" "$example"
echo
echo "== palm-opt --palm-print-sharding-rules"
"$build/bin/palm-opt" "$example" --palm-print-sharding-rules \
  -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 |
  sed -n 's/^[^:]*:\([0-9]*\):[0-9]*: remark: sharding rule: /\1\t/p' |
  while IFS=$'\t' read -r line rule; do
    op=$(sed -n "${line}p" "$example" | grep -o 'palm\.[a-z_]*' | head -1)
    printf '  line %-3s %-18s %s\n' "$line" "$op" "$rule"
  done
