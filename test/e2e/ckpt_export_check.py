#!/usr/bin/env python3
"""Checks palm-ckpt export with the safetensors library.

    ckpt_export_check.py CHECKPOINT_STEP_DIR EXPORTED [--all]

EXPORTED is a .safetensors file or the .index.json of several. Every
parameter of the checkpoint (with --all every tensor) must come back from
the safetensors library (safetensors.numpy) with its global shape and the
exact values that test/e2e/palm_shards.py assembles from the checkpoint's
shards independently of the runtime.
"""

import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import palm_shards  # noqa: E402


def main():
    step_dir, exported = sys.argv[1], sys.argv[2]
    everything = "--all" in sys.argv[3:]
    want, index = palm_shards.load_shards(step_dir,
                                          index_file="checkpoint.index.json")
    if not everything:
        want = {k: v for k, v in want.items()
                if index["tensors"][k].get("kind") == "param"}
    if exported.endswith(".json"):
        with open(exported) as f:
            weight_map = json.load(f)["weight_map"]
        got = {}
        base = os.path.dirname(exported)
        for name in sorted(set(weight_map.values())):
            got.update(load_file(os.path.join(base, name)))
        files = len(set(weight_map.values()))
    else:
        got = load_file(exported)
        files = 1
    ok = sorted(got) == sorted(want)
    print("%s tensors: %d exported, %d %s in the checkpoint" % (
        "ok  " if ok else "FAIL", len(got), len(want),
        "tensors" if everything else "parameters"))
    for name in sorted(want):
        g = got.get(name)
        same = (g is not None and g.shape == want[name].shape and
                np.array_equal(g, want[name]))
        ok &= same
        if not same:
            print("FAIL %s differs" % name)
    print("%s %d file(s) read by safetensors.numpy equal the checkpoint" % (
        "ok  " if ok else "FAIL", files))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
