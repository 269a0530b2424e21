"""Unit tests of palm_shards.py. Run: python3 test_palm_shards.py
(exits non-zero on failure; needs only numpy)."""

import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testing import run_tests  # noqa: E402
import palm_shards as ps  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def expect_error(fn, fragment):
    try:
        fn()
    except ps.ShardError as e:
        if fragment not in str(e):
            raise AssertionError("error %r lacks %r" % (str(e), fragment))
        return
    raise AssertionError("no ShardError (expected one with %r)" % fragment)


def raw_safetensors(path, header, data):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def hand_index(mesh_axes, mesh_shape, files, tensors):
    return {"format": "palm-shards", "version": 1,
            "mesh": {"axes": mesh_axes, "shape": mesh_shape},
            "files": files, "tensors": tensors}


class TempDir(object):
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="palm-shards-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path)


@test
def safetensors_by_hand():
    # A file assembled byte by byte: F32 [2, 3], I32 [2], I64 scalar, BF16 [2]
    # and metadata; offsets relative to the end of the header.
    f32 = np.arange(6, dtype="<f4").reshape(2, 3) - 2.5
    i32 = np.array([7, -9], dtype="<i4")
    i64 = np.array(2 ** 40 + 3, dtype="<i8")
    bf16 = np.array([0x3F80, 0xC000], dtype="<u2")  # 1.0, -2.0
    data = f32.tobytes() + i32.tobytes() + i64.tobytes() + bf16.tobytes()
    header = {
        "__metadata__": {"x": "y"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I32", "shape": [2], "data_offsets": [24, 32]},
        "c": {"dtype": "I64", "shape": [], "data_offsets": [32, 40]},
        "d": {"dtype": "BF16", "shape": [2], "data_offsets": [40, 44]},
    }
    with TempDir() as d:
        p = os.path.join(d, "x.safetensors")
        raw_safetensors(p, header, data)
        got = ps.read_safetensors(p)
    assert sorted(got) == ["a", "b", "c", "d"], sorted(got)
    assert got["a"].dtype == np.float32 and np.array_equal(got["a"], f32)
    assert got["b"].dtype == np.int32 and list(got["b"]) == [7, -9]
    assert got["c"].shape == () and int(got["c"]) == 2 ** 40 + 3
    assert list(ps.bf16_to_f32(got["d"])) == [1.0, -2.0]


@test
def safetensors_errors():
    with TempDir() as d:
        p = os.path.join(d, "x.safetensors")
        raw_safetensors(p, {"a": {"dtype": "F32", "shape": [3],
                                  "data_offsets": [0, 8]}}, b"\0" * 8)
        expect_error(lambda: ps.read_safetensors(p), "expected 12")
        raw_safetensors(p, {"a": {"dtype": "F32", "shape": [3],
                                  "data_offsets": [0, 12]}}, b"\0" * 8)
        expect_error(lambda: ps.read_safetensors(p), "outside")
        raw_safetensors(p, {"a": {"dtype": "F64", "shape": [1],
                                  "data_offsets": [0, 8]}}, b"\0" * 8)
        expect_error(lambda: ps.read_safetensors(p), "unsupported dtype")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", 100) + b"{}")
        expect_error(lambda: ps.read_safetensors(p), "past the end")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", 3) + b"{x}")
        expect_error(lambda: ps.read_safetensors(p), "not JSON")


@test
def safetensors_round_trip():
    with TempDir() as d:
        p = os.path.join(d, "x.safetensors")
        t = {"w": np.random.RandomState(0).randn(3, 4).astype(np.float32),
             "ids": np.arange(5, dtype=np.int32),
             "big": np.arange(2, dtype=np.int64) * 2 ** 33,
             "h": ps.f32_to_bf16(np.array([0.5, 3.0], np.float32))}
        ps.write_safetensors(p, t)
        got = ps.read_safetensors(p)
        for k in t:
            assert np.array_equal(got[k], t[k]), k
            assert got[k].dtype == t[k].dtype, k


@test
def bf16_rounding():
    x = np.array([1.0, 1.00390625, 1.005859375, -3.0, 1e-40, np.inf],
                 np.float32)
    bits = ps.f32_to_bf16(x)
    # 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0).
    assert list(bits) == [0x3F80, 0x3F80, 0x3F81, 0xC040, 0x0001, 0x7F80], \
        [hex(b) for b in bits]
    assert np.isnan(ps.bf16_to_f32(ps.f32_to_bf16(np.array([np.nan],
                                                          np.float32))))[0]


@test
def rank_coordinates_row_major():
    shape = [2, 3]
    got = [ps.rank_coordinates(r, shape) for r in range(6)]
    assert got == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)], got
    # shard index over [model, data] (model major) on mesh data=2, model=3
    axes = ["data", "model"]
    idx = [ps.shard_index(ps.rank_coordinates(r, shape), axes, shape,
                          ["model", "data"]) for r in range(6)]
    assert idx == [(0, 6), (2, 6), (4, 6), (1, 6), (3, 6), (5, 6)], idx


@test
def uneven_9_over_4_by_hand():
    # Global [9] split over model=4: L = 3; shards [0,3) [3,6) [6,9) and an
    # all-padding shard. The second dim [2] is replicated. Files written by
    # hand, not by write_shards.
    g = (np.arange(18, dtype=np.float32).reshape(9, 2) + 1) * 0.5
    with TempDir() as d:
        files = []
        for r in range(4):
            local = np.zeros((3, 2), np.float32)
            lo, hi = min(3 * r, 9), min(3 * r + 3, 9)
            local[:hi - lo] = g[lo:hi]
            name = "r%d.safetensors" % r
            raw_safetensors(os.path.join(d, name),
                            {"t": {"dtype": "F32", "shape": [3, 2],
                                   "data_offsets": [0, 24]}},
                            local.tobytes())
            files.append(name)
        idx = hand_index(["model"], [4], files,
                         {"t": {"dtype": "f32", "global_shape": [9, 2],
                                "local_shape": [3, 2],
                                "sharding": [["model"], []]}})
        with open(os.path.join(d, "weights.index.json"), "w") as f:
            json.dump(idx, f)
        got, _ = ps.load_shards(d)
        assert np.array_equal(got["t"], g)

        # Non-zero padding in the all-padding shard is an error.
        bad = np.zeros((3, 2), np.float32)
        bad[1, 1] = 7.0
        raw_safetensors(os.path.join(d, "r3.safetensors"),
                        {"t": {"dtype": "F32", "shape": [3, 2],
                               "data_offsets": [0, 24]}}, bad.tobytes())
        expect_error(lambda: ps.load_shards(d), "padding is not zero")
        try:
            ps.load_shards(d)
        except ps.ShardError as e:
            assert "rank 3" in str(e) and "(1, 1)" in str(e), str(e)


@test
def uneven_9_over_4_writer_and_two_axes():
    rng = np.random.RandomState(1)
    cases = [
        ([9], [["model"]]),
        ([9, 5], [["data", "model"], []]),   # 9 over 8: L = 2
        ([9, 5], [["model", "data"], []]),
        ([5, 9], [["data"], ["model"]]),
        ([7, 3, 9], [[], ["data"], ["model"]]),
        ([], []),
    ]
    for shape, sharding in cases:
        g = np.asarray(rng.randn(*shape), dtype=np.float32)
        with TempDir() as d:
            ps.write_shards(d, "outputs.index.json", ["data", "model"],
                            [2, 4], {"t": (g, sharding, "f32")})
            got, idx = ps.load_shards(d)
            assert np.array_equal(got["t"], g), (shape, sharding)
            assert len(idx["files"]) == 8


@test
def two_axes_layout_matches_hand_computation():
    # 9 over [data, model] on data=2, model=4: n = 8, L = 2; rank 5 has
    # coordinates (1, 1) -> shard 1*4 + 1 = 5 -> global [10, 12): all padding.
    # Over [model, data]: shard 1*2 + 1 = 3 -> global [6, 8).
    g = np.arange(9, dtype=np.int32) + 100
    for sharding, expect in (([["data", "model"]], [0, 0]),
                             ([["model", "data"]], [106, 107])):
        with TempDir() as d:
            ps.write_shards(d, "w.index.json", ["data", "model"], [2, 4],
                            {"t": (g, sharding, "i32")})
            idx = json.load(open(os.path.join(d, "w.index.json")))
            local = ps.read_safetensors(os.path.join(d, idx["files"][5]))
            assert list(local["t"]) == expect, (sharding, list(local["t"]))
            got, _ = ps.load_shards(d)
            assert np.array_equal(got["t"], g)
            assert got["t"].dtype == np.int32


@test
def dtypes():
    rng = np.random.RandomState(2)
    t = {"f": (rng.randn(5, 3).astype(np.float32), [["model"], []], "f32"),
         "h": (rng.randn(6).astype(np.float32), [["model"]], "bf16"),
         "i": (rng.randint(0, 50, (3, 4)).astype(np.int32), [["data"], []],
               "i32"),
         "l": (np.array(3 * 2 ** 40, np.int64), [], "i64")}
    with TempDir() as d:
        ps.write_shards(d, "weights.index.json", ["data", "model"], [2, 2], t)
        got, _ = ps.load_shards(d)
        raw, _ = ps.load_shards(d, bf16_as_f32=False)
    assert np.array_equal(got["f"], t["f"][0])
    assert got["h"].dtype == np.float32
    assert np.array_equal(got["h"],
                          ps.bf16_to_f32(ps.f32_to_bf16(t["h"][0])))
    assert raw["h"].dtype == np.uint16
    assert np.array_equal(got["i"], t["i"][0]) and got["i"].dtype == np.int32
    assert int(got["l"]) == 3 * 2 ** 40 and got["l"].dtype == np.int64


def _rewrite_rank(d, rank, name, fn):
    idx = json.load(open(os.path.join(d, ps.find_index(d))))
    path = os.path.join(d, idx["files"][rank])
    local = ps.read_safetensors(path)
    local[name] = fn(local[name].copy())
    ps.write_safetensors(path, local)


@test
def replicas_must_agree():
    g = np.arange(12, dtype=np.float32).reshape(3, 4)
    with TempDir() as d:
        ps.write_shards(d, "weights.index.json", ["data", "model"], [2, 2],
                        {"t": (g, [[], ["model"]], "f32")})
        ps.load_shards(d)

        def poke(a):
            a[2, 1] += 1e-3
            return a
        _rewrite_rank(d, 3, "t", poke)   # rank 3 = (1, 1): columns 2..3
        expect_error(lambda: ps.load_shards(d), "replica differs")
        try:
            ps.load_shards(d)
        except ps.ShardError as e:
            assert "(2, 3)" in str(e), str(e)


@test
def replicated_scalar_must_agree():
    with TempDir() as d:
        ps.write_shards(d, "outputs.index.json", ["data"], [3],
                        {"loss": (np.array(3.25, np.float32), [], "f32")})
        got, _ = ps.load_shards(d)
        assert float(got["loss"]) == 3.25
        _rewrite_rank(d, 2, "loss", lambda a: a + np.float32(1e-6))
        expect_error(lambda: ps.load_shards(d), "replica differs")


@test
def index_errors():
    g = np.arange(9, dtype=np.float32)

    def setup(d):
        ps.write_shards(d, "weights.index.json", ["model"], [4],
                        {"t": (g, [["model"]], "f32")})
        return os.path.join(d, "weights.index.json")

    def mutate(fn, fragment):
        with TempDir() as d:
            p = setup(d)
            idx = json.load(open(p))
            fn(idx, d)
            with open(p, "w") as f:
                json.dump(idx, f)
            expect_error(lambda: ps.load_shards(d), fragment)

    mutate(lambda i, d: i.update(format="other"), "palm-shards")
    mutate(lambda i, d: i.update(version=2), "version")
    mutate(lambda i, d: i["files"].pop(), "one file per rank")
    mutate(lambda i, d: i["tensors"]["t"].update(local_shape=[2]),
           "expected ceil(9 / 4) = 3")
    mutate(lambda i, d: i["tensors"]["t"].update(sharding=[["data"]]),
           "unknown mesh axis")
    mutate(lambda i, d: i["tensors"]["t"].update(dtype="i32"), "stored as")
    mutate(lambda i, d: i["tensors"].update(
        u={"dtype": "f32", "global_shape": [2], "local_shape": [2],
           "sharding": [[]]}), "missing")
    mutate(lambda i, d: os.remove(os.path.join(d, i["files"][1])),
           "is missing")
    mutate(lambda i, d: i["mesh"].update(shape=[2, 2]), "malformed mesh")

    with TempDir() as d:
        setup(d)
        expect_error(lambda: ps.load_shards(d, names=["nope"]), "no tensor")
        os.rename(os.path.join(d, "weights.index.json"),
                  os.path.join(d, "x.json"))
        expect_error(lambda: ps.load_shards(d), "expected one *.index.json")

    # A mesh axis used twice by one tensor.
    with TempDir() as d:
        setup(d)
        p = os.path.join(d, "weights.index.json")
        idx = json.load(open(p))
        idx["tensors"]["t"]["sharding"] = [["model", "model"]]
        json.dump(idx, open(p, "w"))
        expect_error(lambda: ps.load_shards(d), "appears twice")


def main():
    return run_tests(TESTS)


if __name__ == "__main__":
    sys.exit(main())
