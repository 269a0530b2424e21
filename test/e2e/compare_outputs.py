#!/usr/bin/env python3
"""Compares the --save-outputs of two runs of one program, output by output.

    compare_outputs.py DIR_A DIR_B [--tol 1e-5] [--prefix P]

Each output of DIR_A must exist in DIR_B with the same shape and lie within
tol * max|A| of it over A's finite values, non-finite values in the same
places (integers: equal). Prints one line per output; exits non-zero on any
difference. For runs of the same program on two backends or meshes (e.g.
the CPU and emulated CUDA). With --prefix, only the outputs whose names
start with P (e.g. "grad." for the gradients). `compare` is also the fuzzer's comparison
(test/fuzz/palm_fuzz.py).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import palm_shards  # noqa: E402


def compare(got, ref, tol):
    """(ok, detail): `got` within tol * max|ref| of `ref` over ref's finite
    values, with non-finite values in the same places; integers equal."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        return False, "shape %s vs %s" % (got.shape, ref.shape)
    if ref.dtype.kind in "iu":
        bad = int(np.sum(got != ref))
        return bad == 0, "%d integers differ" % bad
    got = got.astype(np.float64)
    ref = ref.astype(np.float64)
    fin = np.isfinite(ref)
    if not np.array_equal(fin, np.isfinite(got)):
        return False, "non-finite values differ"
    if not fin.any():
        return True, "no finite values"
    diff = float(np.max(np.abs(got[fin] - ref[fin])))
    scale = float(np.max(np.abs(ref[fin])))
    ok = diff <= tol * scale
    return ok, "max|diff| %.3g, max|ref| %.3g (%.2g of it, tolerance %.0e)" % (
        diff, scale, diff / scale if scale else 0.0, tol)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--prefix", default="")
    args = p.parse_args()
    a, _ = palm_shards.load_shards(args.a)
    a = {k: v for k, v in a.items() if k.startswith(args.prefix)}
    if not a:
        sys.exit("no outputs named %s* in %s" % (args.prefix, args.a))
    b, _ = palm_shards.load_shards(args.b)
    failed = False
    for name in sorted(a):
        if name in b:
            ok, detail = compare(b[name], a[name], args.tol)
        else:
            ok, detail = False, "missing in %s" % args.b
        print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail))
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
