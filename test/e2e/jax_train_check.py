#!/usr/bin/env python3
"""Checks a compiled training run against JAX + optax (train_case.py).

    jax_train_check.py --weights W --outputs O --metrics M --config FILE
                       --seed S --steps K [--optimizer adafactor|adamw]
                       [--lr-schedule ... --peak-lr ... (palm-gen's flags)]
                       [--first-tol 1e-5] [--curve-tol 1e-3]
                       [--param-tol 1e-5]

W holds the run's initial parameters (--save-weights), O its outputs after
step K (--save-outputs: "updated.<name>"), M its --metrics lines. The
batches are the runtime's synthetic stream for seed S: step k reads its
batch k - 1 (palm_init.synthetic_tokens). JAX trains from W on them with the optimizer
of jax_optimizer.py (float32, as the program computes), and the losses and,
for K = 1, the updated parameters are compared. Runs under the JAX venv.
Exit status: 0 pass, 1 a comparison fails, 2 unusable input.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax_optimizer as jo  # noqa: E402
import jax_palm as jp  # noqa: E402
import numpy as np  # noqa: E402
import palm_init  # noqa: E402
import palm_shards  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--optimizer", default="adafactor",
                   choices=["adafactor", "adamw"])
    p.add_argument("--lr-schedule", default=None)
    p.add_argument("--peak-lr", type=float)
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--total-steps", type=int)
    p.add_argument("--final-lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--first-tol", type=float, default=1e-5)
    p.add_argument("--curve-tol", type=float, default=1e-3)
    p.add_argument("--param-tol", type=float, default=1e-5)
    args = p.parse_args()

    try:
        config = jp.read_config(args.config)
        cfg = config
        weights, _ = palm_shards.load_shards(args.weights)
        with open(args.metrics) as f:
            got = [json.loads(line)["loss"] for line in f if line.strip()]
    except (OSError, ValueError, KeyError, jp.InputError,
            palm_shards.ShardError) as e:
        print("unusable input: %s" % e)
        return 2
    if len(got) != args.steps:
        print("unusable input: %d metrics lines for %d steps"
              % (len(got), args.steps))
        return 2

    if args.optimizer == "adafactor":
        if any(v is not None for v in (args.lr_schedule, args.peak_lr,
                                       args.warmup_steps, args.total_steps,
                                       args.final_lr, args.weight_decay)):
            print("unusable input: the adafactor check uses PaLM's schedule "
                  "and decay only")
            return 2
        optimizer = "adafactor"
    else:
        if args.lr_schedule not in (None, "warmup-cosine"):
            print("unusable input: the adamw check uses warmup-cosine")
            return 2
        kw = {k: v for k, v in (("peak", args.peak_lr),
                                ("warmup", args.warmup_steps),
                                ("total", args.total_steps),
                                ("end", args.final_lr),
                                ("weight_decay", args.weight_decay))
              if v is not None}
        optimizer = jo.AdamW(**kw)

    # Step k reads batch k - 1 of the stream (palm_init.synthetic_tokens).
    batches = [palm_init.synthetic_tokens(args.seed, k - 1, cfg["batch"],
                                          cfg["seq"], cfg["vocab"])
               for k in range(1, args.steps + 1)]
    want, params = jo.train(weights, batches, config, k0=1,
                            optimizer=optimizer, dtype="f32")
    failed = False
    for k, (g, w) in enumerate(zip(got, want), start=1):
        tol = args.first_tol if k == 1 else args.curve_tol
        rel = abs(g - w) / max(abs(w), 1e-30)
        ok = rel <= tol
        failed |= not ok
        if not ok or k in (1, args.steps):
            print("%s step %d loss: program %.7g, jax %.7g (relative %.2g, "
                  "tolerance %.0e)" % ("ok  " if ok else "FAIL", k, g, w, rel,
                                       tol))
    if args.steps == 1:
        outputs, _ = palm_shards.load_shards(args.outputs)
        for name in sorted(params):
            key = "updated." + name
            if key not in outputs:
                print("FAIL %s: missing from the outputs" % key)
                failed = True
                continue
            ref = np.asarray(params[name], np.float64)
            diff = float(np.max(np.abs(outputs[key] - ref)))
            scale = float(np.max(np.abs(ref)))
            ok = diff <= args.param_tol * scale
            failed |= not ok
            print("%s %s: max|diff| %.3g, max|jax| %.3g (tolerance %.0e)"
                  % ("ok  " if ok else "FAIL", key, diff, scale,
                     args.param_tol))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
