#!/usr/bin/env python3
"""Unit tests of the fuzzer: the interpreter against test/e2e's reference
and naive loops, the generator's programs against palm-opt's verifier (with
PALM_OPT set), gradient mode's programs (one loss every parameter reaches,
differentiable by -palm-autodiff), the shrinker on a synthetic failure, the error classifier.
Prints PASS/FAIL per test and "N passed, M failed"."""

import hashlib
import itertools
import os
import subprocess
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import fuzz_interp  # noqa: E402
import fuzz_program as fp  # noqa: E402
import fuzz_shrink  # noqa: E402
import palm_fuzz  # noqa: E402
import palm_reference as ref  # noqa: E402

RNG = np.random.default_rng(0)


def one_op(kind, operands, shape, attrs=None, dtype="f32"):
    """A program of one op over parameters of the given shapes."""
    args = [{"name": "a%d" % i, "shape": list(s), "dtype": "f32",
             "kind": "param", "init": "normal(1.0)", "sharding": None}
            for i, s in enumerate(operands)]
    return {"mesh": [["x", 2]], "args": args,
            "ops": [{"kind": kind, "name": "v", "operands": [a["name"] for a
                                                          in args],
                     "shape": list(shape), "dtype": dtype,
                     "attrs": attrs or {}}],
            "results": [{"value": "v", "sharding": None}]}


def run1(prog, inputs):
    return fuzz_interp.run(prog, inputs)["v"]


def test_layer_norm_matches_reference():
    x, s = RNG.standard_normal((2, 3, 7)), RNG.standard_normal(7)
    got = run1(one_op("layer_norm", [x.shape, s.shape], x.shape,
                      {"epsilon": 1e-3}), {"a0": x, "a1": s})
    assert np.allclose(got, ref.layer_norm(x, s, 1e-3), rtol=0, atol=1e-12)


def test_rope_matches_reference():
    x = RNG.standard_normal((2, 5, 3, 6))
    for base in (10000.0, 100.0):
        got = run1(one_op("rope", [x.shape], x.shape, {"base": base}),
                   {"a0": x})
        assert np.allclose(got, ref.rope(x, base), atol=1e-12)


def test_attention_matches_reference():
    for heads, kv, causal, t in [(4, 4, True, 5), (4, 1, True, 5),
                                 (6, 2, True, 5), (6, 3, False, 3)]:
        q = RNG.standard_normal((2, 5, heads, 4))
        k = RNG.standard_normal((2, t, kv, 4))
        v = RNG.standard_normal((2, t, kv, 3))
        got = run1(one_op("attention", [q.shape, k.shape, v.shape],
                          (2, 5, heads, 3), {"causal": causal}),
                   {"a0": q, "a1": k, "a2": v})
        assert np.allclose(got, ref.attention(q, k, v, causal), atol=1e-12)


def test_attention_scale():
    q = RNG.standard_normal((1, 3, 2, 4))
    got = run1(one_op("attention", [q.shape] * 3, q.shape,
                      {"causal": False, "scale": 0.5}),
               {"a0": q, "a1": q, "a2": q})
    # scale 0.5 on q.k equals the default 1/sqrt(4) = 0.5.
    assert np.allclose(got, ref.attention(q, q, q, False), atol=1e-12)


def test_cross_entropy_matches_reference():
    logits = RNG.standard_normal((2, 3, 7))
    targets = RNG.integers(0, 7, (2, 3))
    prog = one_op("cross_entropy", [logits.shape], (), {"z_loss": 1e-2})
    prog["args"].append({"name": "t", "shape": [2, 3], "dtype": "i32",
                         "kind": "input", "init": None, "sharding": None})
    prog["ops"][0]["operands"].append("t")
    got = run1(prog, {"a0": logits, "t": targets})
    assert np.allclose(got, ref.cross_entropy(logits, targets, 1e-2))


def test_dot_general_against_loops():
    a = RNG.standard_normal((3, 2, 4, 5))
    b = RNG.standard_normal((5, 4, 6, 3))
    attrs = {"lhs_batch": [2, 0], "rhs_batch": [1, 3],
             "lhs_contracting": [3], "rhs_contracting": [0]}
    got = run1(one_op("dot_general", [a.shape, b.shape], (4, 3, 2, 6),
                      attrs), {"a0": a, "a1": b})
    want = np.zeros((4, 3, 2, 6))
    for i, j, f, g in itertools.product(range(4), range(3), range(2),
                                        range(6)):
        want[i, j, f, g] = sum(a[j, f, i, c] * b[c, i, g, j]
                               for c in range(5))
    assert np.allclose(got, want, atol=1e-12)


def test_embedding_and_convert():
    table = RNG.standard_normal((5, 3))
    ids = np.array([[4, 0], [2, 2]])
    prog = one_op("embedding", [table.shape], (2, 2, 3))
    prog["args"].append({"name": "i", "shape": [2, 2], "dtype": "i32",
                         "kind": "input", "init": None, "sharding": None})
    prog["ops"][0]["operands"].append("i")
    assert np.array_equal(run1(prog, {"a0": table, "i": ids}), table[ids])
    x = np.array([1.0 + 2 ** -9, 1.0 + 3 * 2 ** -9, -3.0])
    got = run1(one_op("convert", [x.shape], x.shape, dtype="bf16"),
               {"a0": x})
    assert list(got) == [1.0, 1.0 + 2 ** -7, -3.0]   # ties to even


def test_generated_programs_are_typed_and_print():
    for first in range(0, 80, 8):
        mesh, ctx, members = fp.generate_batch(7, first, 8)
        prog = fp.build_program(mesh, ctx, members)
        text, _ = fp.print_program(prog)
        assert "palm.mesh @mesh" in text
        one, _ = fp.print_program(prog, one_device=True)
        assert all("= 1" in p for p in one.splitlines()[0].split(","))
        fuzz_interp.run(prog, {})          # every op has its semantics


def test_generated_programs_verify():
    palm_opt = os.environ.get("PALM_OPT")
    if not palm_opt:
        print("  (skipped: PALM_OPT not set)")
        return
    for first in range(0, 160, 8):
        mesh, ctx, members = fp.generate_batch(11, first, 8)
        text, _ = fp.print_program(fp.build_program(mesh, ctx, members))
        r = subprocess.run([palm_opt, "-o", os.devnull, "-"], input=text,
                           text=True, capture_output=True)
        assert r.returncode == 0, r.stderr


def test_cases_do_not_depend_on_their_batch_mates():
    _, _, a = fp.generate_batch(5, 16, 8)
    _, _, b = fp.generate_batch(5, 16, 8)
    assert fp.to_json(a[3]) == fp.to_json(b[3])
    names = {n for m in a for n in [x["name"] for x in m["args"] + m["ops"]]}
    assert all(n.startswith("c") for n in names)


def grad_batches(seed, count):
    for first in range(0, 8 * count, 8):
        mesh, ctx, members = fp.generate_batch(seed, first, 8, grads=True)
        yield mesh, ctx, members, fp.build_program(mesh, ctx, members)


def test_grad_programs_end_in_one_loss_every_parameter_reaches():
    for mesh, ctx, members, prog in grad_batches(3, 12):
        assert prog["grads"]
        loss = prog["ops"][-1]
        assert loss["kind"] == "cross_entropy" and loss["name"] == "loss"
        assert loss["operands"][1] == "targets"
        assert loss["shape"] == [] and loss["dtype"] == "f32"
        assert [fp.result_name(r, j) for j, r in enumerate(prog["results"])
                ].count("loss") == 1
        # What autodiff needs: every parameter reaches the loss.
        reaches = {"loss"}
        for op in reversed(prog["ops"]):
            if op["name"] in reaches:
                reaches.update(op["operands"])
        params = [a["name"] for a in prog["args"] if a["init"]]
        assert "embedding" in params
        assert all(p in reaches for p in params), [
            p for p in params if p not in reaches]
        for m in members:
            assert m["logits"] in reaches
            one = fp.build_program(mesh, ctx, [m])
            assert one["ops"][-1]["name"] == "loss"
        # bf16 only where the batch allows it.
        if not ctx["bf16"]:
            assert not any(a["dtype"] == "bf16" for a in prog["args"])
            assert not any(op["dtype"] == "bf16" for op in prog["ops"])
        env = fuzz_interp.run(prog, {})  # the loss has its semantics too
        assert np.shape(env["loss"]) == ()


def test_grad_mode_leaves_the_plain_cases_alone():
    _, _, plain = fp.generate_batch(1, 0, 8)
    assert not any("logits" in m for m in plain)
    # make check's 200 cases of seed 1, as the generator made them before
    # gradient mode (2b43d58).
    h = hashlib.sha256()
    for first in range(0, 200, 8):
        prog = fp.build_program(*fp.generate_batch(1, first, 8))
        assert "grads" not in prog
        h.update(fp.to_json(prog).encode())
    assert h.hexdigest()[:16] == "f360c4ed27133d20", h.hexdigest()


def test_grad_programs_differentiate():
    palm_opt = os.environ.get("PALM_OPT")
    if not palm_opt:
        print("  (skipped: PALM_OPT not set)")
        return
    for mesh, ctx, members, prog in grad_batches(13, 6):
        text, _ = fp.print_program(prog)
        r = subprocess.run([palm_opt, "-palm-autodiff", "-"], input=text,
                           text=True, capture_output=True)
        assert r.returncode == 0, r.stderr
        params = [a["name"] for a in prog["args"] if a["init"]]
        for name in params:
            assert 'palm.name = "grad.%s"' % name in r.stdout, name


def test_compare_gradient():
    ref = np.array([1e-8, -2e-8], np.float32)
    noisy = np.array([2e-8, 0.0], np.float32)
    # Noise of a gradient far below its case's largest: within 1e-4 of it.
    assert palm_fuzz.compare_gradient(noisy, ref, 1e-4, 1.0)[0]
    # Not where the gradient is the case's largest.
    assert not palm_fuzz.compare_gradient(noisy, ref, 1e-4, 2e-8)[0]
    big = np.array([0.5, -1.0], np.float32)
    assert not palm_fuzz.compare_gradient(big * 1.01, big, 1e-4, 1.0)[0]
    assert palm_fuzz.compare_gradient(big * (1 + 1e-6), big, 1e-4, 1.0)[0]
    assert not palm_fuzz.compare_gradient(
        np.array([np.nan, 0.0]), np.array([1.0, 0.0]), 1e-4, 1e9)[0]


def test_member_of_gradients():
    assert palm_fuzz.member_of("c12.v3.r0") == 12
    assert palm_fuzz.member_of("grad.c12.p3") == 12
    assert palm_fuzz.member_of("grad.embedding") is None
    assert palm_fuzz.member_of("loss") is None


def test_shrink_keeps_the_failure():
    mesh, ctx, members = fp.generate_batch(1, 0, 8)
    prog = fp.build_program(mesh, ctx, members)
    kinds = [op["kind"] for op in prog["ops"]]
    target = next(k for k in ("layer_norm", "dot_general", "rope") if k in
                  kinds)

    def fails(p):
        fuzz_interp.run(p, {})            # every candidate is well formed
        return any(op["kind"] == target for op in p["ops"])
    small, _ = fuzz_shrink.shrink(prog, fails, budget=400)
    assert [op["kind"] for op in small["ops"]] == [target], small["ops"]
    assert len(small["results"]) == 1


def test_classify():
    assert palm_fuzz.classify(1, "x.mlir:3:8: error: 'palm.dot_general' op "
                              "has batch dimensions that are not leading")[
        0] == "refused"
    assert palm_fuzz.classify(-11, "")[0] == "crashed"
    assert palm_fuzz.classify(1, "LLVM ERROR: out of memory\n")[0] == \
        "crashed"
    v, why = palm_fuzz.classify(
        1, "p.mlir:5:8: error: 'palm.attention' op query heads (1) must be "
           "a multiple of key/value heads (3)")
    assert v == "crashed" and why.startswith("invalid IR"), why
    v, why = palm_fuzz.classify(
        1, "ld: undefined reference to `__truncsfbf2'\npalm-compile: error: "
           "linking with clang++ failed")
    assert v == "crashed" and "__truncsfbf2" in why
    assert palm_fuzz.normalize("a.mlir:1:2: error: 'x' op has 3 dims") == \
        "'_' op has N dims"


def main():
    tests = [(n, f) for n, f in sorted(globals().items())
             if n.startswith("test_")]
    failed = 0
    for name, f in tests:
        try:
            f()
            print("PASS %s" % name)
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
