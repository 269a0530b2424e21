#!/usr/bin/env python3
"""Checks one run of a compiled palm program against the numpy reference.

    check_run.py --weights DIR --outputs DIR --config FILE
                 [--expect-loss X] [--compare-outputs DIR]
                 [--rel-tol 1e-5] [--logit-tol 1e-4]

DIR are directories written by the executable's --save-weights and
--save-outputs (palm_shards.py reads them and asserts zero padding and
identical replicas). FILE is a palm-gen JSON config or the output of
`palm-gen ... --stats --stats-format=json`; LayerNorm epsilon and z_loss
come from FILE when it has them, else from --layer-norm-epsilon / --z-loss,
else palm-gen's defaults 1e-6 / 1e-4.

It reassembles the parameters, tokens, targets, logits and loss, runs
palm_reference.forward (float64) on the parameters and tokens, and checks
  * the program's logits: max |program - reference| <= logit-tol * max |ref|
  * the program's loss against the reference's: relative error <= rel-tol
  * the program's loss against the loss recomputed from its own logits
    (isolates the cross-entropy from the rest): relative error <= rel-tol
  * --expect-loss X: the program's loss against X, relative <= rel-tol
  * --compare-outputs DIR: logits and loss against another run's outputs
    (e.g. the 1-rank run), same tolerances.
  * --seed S --token-step N: tokens and targets equal step N of the
    runtime's synthetic stream for seed S (palm_init.py, docs/runtime-abi.md)
  * --check-init: the weights look freshly initialised (LayerNorm scales
    exactly one; others mean ~0, std ~ docs/model.md's stddev).
It prints every measured error. Exit status: 0 all checks pass, 1 a check
fails, 2 the inputs are unusable (missing or malformed files, wrong shapes).
Runs under /usr/bin/python3 with Debian's numpy.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import palm_init  # noqa: E402
import palm_reference as ref  # noqa: E402
import palm_shards as ps  # noqa: E402


class InputError(Exception):
    pass


def load_config(path, eps=None, z_loss=None):
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError("cannot read config %s: %s" % (path, e))
    if not isinstance(raw, dict):
        raise InputError("config %s is not a JSON object" % path)
    body = raw["model"] if isinstance(raw.get("model"), dict) else raw
    body = dict(body)
    for key, override in (("layer_norm_epsilon", eps), ("z_loss", z_loss)):
        if override is not None:
            body[key] = override
    try:
        return ref.normalize_config(body), body.get("name", "custom")
    except ValueError as e:
        raise InputError("config %s: %s" % (path, e))


def load_dir(path, what):
    if not os.path.isdir(path):
        raise InputError("%s directory %s does not exist" % (what, path))
    try:
        return ps.load_shards(path)
    except ps.ShardError as e:
        raise InputError("%s: %s" % (what, e))


def pick(name, *sources):
    for tensors in sources:
        if name in tensors:
            return tensors[name]
    raise InputError("no tensor %r in %s" % (
        name, " or ".join(s.get("__dir__", "?") for s in sources)))


def scalar(value, what):
    arr = np.asarray(value)
    if arr.size != 1:
        raise InputError("%s has shape %s, expected a scalar"
                         % (what, arr.shape))
    return float(arr.reshape(-1)[0])


def rel_err(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def mesh_text(index):
    m = index["mesh"]
    return ",".join("%s=%d" % (a, s) for a, s in zip(m["axes"], m["shape"]))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check a palm run against the numpy reference.")
    ap.add_argument("--weights", required=True,
                    help="directory written by --save-weights")
    ap.add_argument("--outputs", required=True,
                    help="directory written by --save-outputs")
    ap.add_argument("--config", required=True,
                    help="palm-gen config JSON or --stats-format=json output")
    ap.add_argument("--expect-loss", type=float,
                    help="the loss the program must report (e.g. 1 rank's)")
    ap.add_argument("--compare-outputs", metavar="DIR",
                    help="another run's --save-outputs directory to match")
    ap.add_argument("--rel-tol", type=float, default=1e-5,
                    help="relative tolerance on the loss (default 1e-5)")
    ap.add_argument("--logit-tol", type=float, default=1e-4,
                    help="tolerance on logits as a fraction of the largest "
                         "reference |logit| (default 1e-4)")
    ap.add_argument("--layer-norm-epsilon", type=float,
                    help="override the config's LayerNorm epsilon")
    ap.add_argument("--z-loss", type=float, help="override the config's "
                    "z_loss")
    ap.add_argument("--seed", type=int,
                    help="with --token-step: the run's --seed")
    ap.add_argument("--token-step", type=int, metavar="N",
                    help="check that tokens and targets are step N of the "
                         "synthetic stream of --seed (docs/runtime-abi.md)")
    ap.add_argument("--check-init", action="store_true",
                    help="check that the weights look freshly initialised: "
                         "LayerNorm scales one, others mean 0 and the "
                         "stddev of docs/model.md")
    ap.add_argument("--logits-name", default="logits")
    ap.add_argument("--loss-name", default="loss")
    args = ap.parse_args(argv)

    if (args.seed is None) != (args.token_step is None):
        ap.error("--seed and --token-step go together")
    try:
        return run(args)
    except InputError as e:
        print("check_run: error: %s" % e)
        return 2


def run(args):
    cfg, name = load_config(args.config, args.layer_norm_epsilon, args.z_loss)
    print("check_run: model %s: %d layers, d_model %d, heads %d, kv_heads %d,"
          " head_dim %d, d_ff %d, vocab %d, batch %d x seq %d, %s block, "
          "epsilon %g, z_loss %g"
          % (name, cfg["layers"], cfg["d_model"], cfg["heads"],
             cfg["kv_heads"], cfg["head_dim"], cfg["d_ff"], cfg["vocab"],
             cfg["batch"], cfg["seq"], cfg["block"],
             cfg["layer_norm_epsilon"], cfg["z_loss"]))
    if cfg["dtype"] != "f32":
        print("check_run: note: dtype %s; the default tolerances assume f32"
              % cfg["dtype"])

    weights, windex = load_dir(args.weights, "weights")
    outputs, oindex = load_dir(args.outputs, "outputs")
    weights["__dir__"] = args.weights
    outputs["__dir__"] = args.outputs
    print("check_run: weights: %d tensors, %d files, mesh %s"
          % (len(windex["tensors"]), len(windex["files"]), mesh_text(windex)))
    print("check_run: outputs: %s; %d files, mesh %s"
          % (", ".join(sorted(oindex["tensors"])), len(oindex["files"]),
             mesh_text(oindex)))

    shapes = ref.parameter_shapes(cfg)
    params = {}
    for pname, shape in shapes.items():
        arr = pick(pname, weights)
        if tuple(arr.shape) != tuple(shape):
            raise InputError("weight %s has shape %s, the config says %s"
                             % (pname, tuple(arr.shape), tuple(shape)))
        if arr.dtype.kind != "f":
            raise InputError("weight %s is %s, expected floating point"
                             % (pname, arr.dtype))
        params[pname] = arr
    extra = sorted(set(windex["tensors"]) - set(shapes)
                   - {"tokens", "targets"})
    if extra:
        print("check_run: note: weights has tensors the model lacks: %s"
              % ", ".join(extra))

    bs = (cfg["batch"], cfg["seq"])
    tokens = pick("tokens", outputs, weights)
    targets = pick("targets", outputs, weights)
    for what, ids in (("tokens", tokens), ("targets", targets)):
        if ids.shape != bs or ids.dtype.kind not in "iu":
            raise InputError("%s: %s %s, expected integer %s"
                             % (what, ids.dtype, ids.shape, bs))
    logits = pick(args.logits_name, outputs).astype(np.float64)
    if logits.shape != bs + (cfg["vocab"],):
        raise InputError("%s has shape %s, expected %s" % (
            args.logits_name, logits.shape, bs + (cfg["vocab"],)))
    loss = scalar(pick(args.loss_name, outputs), args.loss_name)

    trace = {}
    try:
        _, ref_loss = ref.forward(cfg, params, tokens, targets, trace=trace)
    except ValueError as e:
        raise InputError("reference: %s" % e)
    ref_logits = trace["logits.scale"]  # float64 (forward returns f32)

    failures = []

    def check(label, err, tol, detail):
        ok = bool(err <= tol)  # NaN fails
        print("check_run: %-32s %s  (%s)" % (label + ":", "ok" if ok else
                                            "MISMATCH", detail))
        if not ok:
            failures.append(label)

    if not np.all(np.isfinite(logits)):
        bad = np.argwhere(~np.isfinite(logits))
        print("check_run: program logits have %d non-finite values, first "
              "at %s" % (len(bad), tuple(int(i) for i in bad[0])))
    scale = float(np.max(np.abs(ref_logits)))
    diff = np.abs(logits - ref_logits)
    max_err = float(np.max(diff)) if np.all(np.isfinite(diff)) else \
        float("nan")
    where = tuple(int(i) for i in np.unravel_index(np.nanargmax(diff),
                                                   diff.shape))
    check("logits vs reference", max_err, args.logit_tol * scale,
          "max |err| %.3e at %s = %.3e of max |logit| %.4g; tolerance %.0e"
          % (max_err, where, max_err / scale, scale, args.logit_tol))
    e = rel_err(loss, ref_loss)
    check("loss vs reference", e, args.rel_tol,
          "program %.9g, reference %.9g, relative error %.3e; tolerance %.0e"
          % (loss, ref_loss, e, args.rel_tol))
    own = float(ref.cross_entropy(logits, targets, cfg["z_loss"]))
    e = rel_err(loss, own)
    check("loss vs its own logits", e, args.rel_tol,
          "cross-entropy of the program's logits %.9g, relative error %.3e"
          % (own, e))
    if args.token_step is not None:
        want_tok, want_tgt = palm_init.synthetic_tokens(
            args.seed, args.token_step, cfg["batch"], cfg["seq"], cfg["vocab"])
        for what, got, want in (("tokens", tokens, want_tok),
                                ("targets", targets, want_tgt)):
            wrong = int(np.sum(got != want))
            check("%s vs stream" % what, wrong, 0,
                  "%d of %d differ from step %d of seed %d's stream"
                  % (wrong, want.size, args.token_step, args.seed))
    if args.check_init:
        stats = palm_init.init_statistics(cfg, params)
        bad = [r for r in stats if not r[1]]
        for pname, _, text in bad:
            print("check_run:   %s: %s" % (pname, text))
        check("weights vs init", len(bad), 0, "%d of %d parameters off "
              "their initial distribution" % (len(bad), len(stats)))
    if args.expect_loss is not None:
        e = rel_err(loss, args.expect_loss)
        check("loss vs --expect-loss", e, args.rel_tol,
              "expected %.9g, relative error %.3e" % (args.expect_loss, e))
    if args.compare_outputs:
        other, xindex = load_dir(args.compare_outputs, "compare-outputs")
        other["__dir__"] = args.compare_outputs
        o_logits = pick(args.logits_name, other).astype(np.float64)
        o_loss = scalar(pick(args.loss_name, other), args.loss_name)
        for what, mine in (("tokens", tokens), ("targets", targets)):
            if what in other and not np.array_equal(other[what], mine):
                failures.append("%s vs %s" % (what, args.compare_outputs))
                print("check_run: %s differ from %s's: MISMATCH"
                      % (what, args.compare_outputs))
        if o_logits.shape != logits.shape:
            raise InputError("compare-outputs logits have shape %s, expected "
                             "%s" % (o_logits.shape, logits.shape))
        d = float(np.max(np.abs(logits - o_logits)))
        check("logits vs compare-outputs", d, args.logit_tol * scale,
              "max |diff| %.3e = %.3e of max |logit| (mesh %s)"
              % (d, d / scale, mesh_text(xindex)))
        e = rel_err(loss, o_loss)
        check("loss vs compare-outputs", e, args.rel_tol,
              "other run %.9g, relative error %.3e" % (o_loss, e))

    if failures:
        print("check_run: FAIL (%s)" % "; ".join(failures))
        return 1
    print("check_run: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
