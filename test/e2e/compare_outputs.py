#!/usr/bin/env python3
"""Compares the --save-outputs of two runs of one program, output by output.

    compare_outputs.py DIR_A DIR_B [--tol 1e-5]

Each output of DIR_A must exist in DIR_B with the same shape and lie within
tol * max|A| of it (integers: equal). Prints one line per output; exits
non-zero on any difference. For runs of the same program on two backends or
meshes (e.g. the CPU and emulated CUDA).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import palm_shards  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tol", type=float, default=1e-5)
    args = p.parse_args()
    a, _ = palm_shards.load_shards(args.a)
    b, _ = palm_shards.load_shards(args.b)
    failed = False
    for name in sorted(a):
        x = np.asarray(a[name])
        y = np.asarray(b.get(name)) if name in b else None
        if y is None or y.shape != x.shape:
            print("FAIL %s: missing or of another shape in %s" % (name, args.b))
            failed = True
            continue
        if not np.issubdtype(x.dtype, np.floating):
            ok = np.array_equal(x, y)
            print("%s %s: integers %s" % ("ok  " if ok else "FAIL", name,
                                          "equal" if ok else "differ"))
            failed |= not ok
            continue
        diff = float(np.max(np.abs(x.astype(np.float64) - y), initial=0.0))
        scale = float(np.max(np.abs(x.astype(np.float64)), initial=0.0))
        ok = diff <= args.tol * scale
        print("%s %s: max|diff| %.3g, max|a| %.3g (tolerance %g of it)" %
              ("ok  " if ok else "FAIL", name, diff, scale, args.tol))
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
