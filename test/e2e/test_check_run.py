"""Tests of check_run.py on synthetic runs. Run: python3 test_check_run.py
(exits non-zero on failure; needs only numpy).

A "program run" is faked by running the reference in float32 and writing
its weights and outputs with palm_shards.write_shards on a data=2, model=4
mesh whose model axis divides neither the vocabulary (50) nor the heads (6).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from testing import run_tests  # noqa: E402
import palm_init  # noqa: E402
import palm_reference as ref  # noqa: E402
import palm_shards as ps  # noqa: E402

CONFIG = {"name": "check-run-test", "layers": 2, "d_model": 16, "heads": 6,
          "kv_heads": 2, "head_dim": 4, "d_ff": 40, "vocab": 50, "seq": 6,
          "batch": 2, "block": "parallel", "layer_norm_epsilon": 1e-5,
          "z_loss": 1e-3}
AXES, SHAPE = ["data", "model"], [2, 4]
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def weight_sharding(name, ndim):
    if name == "embedding":
        return [["model"], []]
    if name.endswith("wq"):
        return [[], ["model"], []]
    if name.endswith("wo"):
        return [["model"], [], []]
    if name.endswith(("wgate", "wup")):
        return [["data"], ["model"]]
    if name.endswith("wdown"):
        return [["model"], ["data"]]
    return [[] for _ in range(ndim)]


def fake_run(root, config=CONFIG, seed=0, mutate=None):
    rng = np.random.RandomState(seed)
    w = ref.random_weights(config, seed=seed)
    tok, tgt = palm_init.synthetic_tokens(seed, 4, config["batch"],
                                          config["seq"], config["vocab"])
    logits, loss = ref.forward(config, w, tok, tgt, dtype=np.float32)
    out = {"tokens": (tok, [["data"], []], "i32"),
           "targets": (tgt, [["data"], []], "i32"),
           "logits": (logits, [["data"], [], ["model"]], "f32"),
           "loss": (np.array(loss, np.float32), [], "f32")}
    if mutate:
        mutate(out)
    wdir, odir = os.path.join(root, "weights"), os.path.join(root, "outputs")
    ps.write_shards(wdir, "weights.index.json", AXES, SHAPE,
                    {k: (v, weight_sharding(k, v.ndim), "f32")
                     for k, v in w.items()})
    ps.write_shards(odir, "outputs.index.json", AXES, SHAPE, out)
    cpath = os.path.join(root, "config.json")
    with open(cpath, "w") as f:
        json.dump(config, f)
    return wdir, odir, cpath, float(np.float32(loss))


def check_run(*args):
    p = subprocess.run([sys.executable, os.path.join(HERE, "check_run.py")]
                       + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


class Run(object):
    def __init__(self, **kw):
        self.kw = kw

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="palm-check-run-")
        return (self.root,) + fake_run(self.root, **self.kw)

    def __exit__(self, *exc):
        shutil.rmtree(self.root)


def expect(rc_out, rc, *fragments):
    got_rc, out = rc_out
    if got_rc != rc or any(f not in out for f in fragments):
        raise AssertionError("exit %d (expected %d), output:\n%s"
                             % (got_rc, rc, out))


@test
def passes_on_a_correct_run():
    with Run() as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--expect-loss", repr(loss)),
               0, "check_run: PASS", "logits vs reference:",
               "loss vs --expect-loss:", "epsilon 1e-05, z_loss 0.001",
               "mesh data=2,model=4")


@test
def token_stream_and_init_checks():
    with Run(seed=3) as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--seed", "3", "--token-step", "4", "--check-init"),
               0, "tokens vs stream:", "targets vs stream:",
               "weights vs init:", "check_run: PASS")
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--seed", "3", "--token-step", "5"),
               1, "tokens vs stream:", "MISMATCH")
        # wrong init scale: rewrite one weight on every rank, scaled
        idx = json.load(open(os.path.join(w, "weights.index.json")))
        for f in idx["files"]:
            path = os.path.join(w, f)
            local = ps.read_safetensors(path)
            local["layers.1.mlp.wdown"] = local["layers.1.mlp.wdown"] * 3
            ps.write_safetensors(path, local)
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--check-init", "--logit-tol", "1"),
               1, "layers.1.mlp.wdown:", "weights vs init:", "MISMATCH")


@test
def stats_json_config_with_overrides():
    stats = {"model": dict(CONFIG, dtype="f32"), "layout": "palm-2d"}
    del stats["model"]["layer_norm_epsilon"]
    del stats["model"]["z_loss"]
    with Run() as (root, w, o, c, loss):
        s = os.path.join(root, "stats.json")
        with open(s, "w") as f:
            json.dump(stats, f)
        # the defaults (1e-6, 1e-4) are not this run's: the loss mismatches
        expect(check_run("--weights", w, "--outputs", o, "--config", s),
               1, "loss vs reference:", "MISMATCH")
        expect(check_run("--weights", w, "--outputs", o, "--config", s,
                         "--layer-norm-epsilon", "1e-5", "--z-loss", "1e-3"),
               0, "check_run: PASS")


@test
def fails_on_a_logit_error():
    def bump(out):
        lg = out["logits"][0].copy()
        lg[1, 3, 37] += 2e-4 * np.max(np.abs(lg))
        out["logits"] = (lg, out["logits"][1], "f32")
    with Run(mutate=bump) as (root, w, o, c, loss):
        rc, text = check_run("--weights", w, "--outputs", o, "--config", c)
        expect((rc, text), 1, "logits vs reference:", "(1, 3, 37)",
               "check_run: FAIL")


@test
def fails_on_a_loss_error():
    def bump(out):
        out["loss"] = (out["loss"][0] * np.float32(1 + 3e-5), [], "f32")
    with Run(mutate=bump) as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", o, "--config", c),
               1, "loss vs reference:", "loss vs its own logits:",
               "MISMATCH")
    with Run() as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--expect-loss", repr(loss * (1 + 3e-5))),
               1, "loss vs --expect-loss:", "MISMATCH")


@test
def fails_on_nan():
    def nan(out):
        lg = out["logits"][0].copy()
        lg[0, 0, 0] = np.nan
        out["logits"] = (lg, out["logits"][1], "f32")
    with Run(mutate=nan) as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", o, "--config", c),
               1, "non-finite", "check_run: FAIL")


@test
def compare_outputs():
    with Run() as (root, w, o, c, loss):
        other = os.path.join(root, "one-rank")
        got, _ = ps.load_shards(o)
        ps.write_shards(other, "outputs.index.json", ["data"], [1],
                        {k: (v, [[] for _ in v.shape],
                             {"i": "i32"}.get(v.dtype.kind, "f32"))
                         for k, v in got.items()})
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--compare-outputs", other),
               0, "loss vs compare-outputs:", "mesh data=1")
        bad = dict(got)
        bad["loss"] = got["loss"] * np.float32(1.001)
        shutil.rmtree(other)
        ps.write_shards(other, "outputs.index.json", ["data"], [1],
                        {k: (v, [[] for _ in v.shape],
                             {"i": "i32"}.get(v.dtype.kind, "f32"))
                         for k, v in bad.items()})
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--compare-outputs", other),
               1, "loss vs compare-outputs:", "MISMATCH")


@test
def unusable_inputs_exit_2():
    with Run() as (root, w, o, c, loss):
        expect(check_run("--weights", w, "--outputs", root + "/nope",
                         "--config", c), 2, "does not exist")
        cfg = dict(CONFIG, d_ff=41)
        c2 = os.path.join(root, "c2.json")
        with open(c2, "w") as f:
            json.dump(cfg, f)
        expect(check_run("--weights", w, "--outputs", o, "--config", c2),
               2, "layers.0.mlp.wgate", "the config says")
        expect(check_run("--weights", w, "--outputs", o, "--config", c,
                         "--logits-name", "scores"), 2, "no tensor 'scores'")
        # a replica that differs is caught by the shard reader
        idx = json.load(open(os.path.join(o, "outputs.index.json")))
        path = os.path.join(o, idx["files"][3])
        local = ps.read_safetensors(path)
        local["loss"] = local["loss"] + np.float32(1)
        ps.write_safetensors(path, local)
        expect(check_run("--weights", w, "--outputs", o, "--config", c),
               2, "replica differs")


def main():
    return run_tests(TESTS)


if __name__ == "__main__":
    sys.exit(main())
