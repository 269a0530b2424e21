"""Unit tests of palm_init.py. Run: python3 test_palm_init.py (exits non-zero
on failure; needs only numpy)."""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testing import run_tests  # noqa: E402
import palm_init as pi  # noqa: E402
import palm_tokens as pt  # noqa: E402
import palm_reference as ref  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def philox_known_answers():
    # Random123's kat_vectors for philox4x32 10: counter, key -> output.
    kat = [
        ((0, 0, 0, 0), (0, 0),
         (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2,
         (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
         (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for ctr, key, want in kat:
        got = tuple(int(w) for w in pi.philox4x32_10(ctr, key))
        assert got == want, ([hex(g) for g in got], [hex(w) for w in want])


@test
def philox_vectorized_equals_scalar():
    ctr0 = np.arange(5, dtype=np.uint64) * 0x10001 + 7
    outs = pi.philox4x32_10((ctr0, 3, 0xFFFFFFFF, 1), (12, 34))
    for i, c0 in enumerate(ctr0):
        one = pi.philox4x32_10((int(c0), 3, 0xFFFFFFFF, 1), (12, 34))
        assert [int(w) for w in one] == [int(o[i]) for o in outs]


@test
def fnv1a():
    assert pi.fnv1a32("") == 0x811C9DC5
    assert pi.fnv1a32("a") == 0xE40C292C
    assert pi.fnv1a32("foobar") == 0xBF9CF968


@test
def token_stream():
    tok, tgt = pi.synthetic_tokens(seed=5, step=2, batch=3, seq=7, vocab=50)
    assert tok.shape == (3, 7) and tok.dtype == np.int32
    assert np.array_equal(tok[:, 1:], tgt[:, :-1])    # next-token targets
    for b in range(3):
        for p in range(8):
            w = pi.philox4x32_10((p, b, 2, 0), (6, 0x70616C6D))[0]
            want = int(w) % 50
            if p < 7:
                assert tok[b, p] == want
            if p > 0:
                assert tgt[b, p - 1] == want
    other, _ = pi.synthetic_tokens(seed=5, step=3, batch=3, seq=7, vocab=50)
    assert not np.array_equal(tok, other)
    assert tok.min() >= 0 and tok.max() < 50


@test
def token_files_round_trip_in_both_widths():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for width, vocab in ((None, 300), (4, 300), (None, 70000)):
            path = d + "/t.tok"
            pt.write_tokens(path, [0, 5, vocab - 1], vocab, width)
            blob = open(path, "rb").read()
            w = width or (2 if vocab <= 65536 else 4)
            assert blob[:8] == b"PALMTOK\0" and len(blob) == 32 + 3 * w
            tokens, v = pt.read_tokens(path)
            assert v == vocab and tokens.tolist() == [0, 5, vocab - 1]
        open(d + "/bad", "wb").write(blob[:-1])
        try:
            pt.read_tokens(d + "/bad")
            assert False, "a truncated file was read"
        except ValueError:
            pass


@test
def batch_offsets_follow_the_definition():
    offsets = pt.batch_offsets(seed=5, k=2, rows=4, count=1000, seq=7)
    for r in range(4):
        w = pi.philox4x32_10((r, 2, 0, 1), (5, 0x64617461))
        assert int(offsets[r]) == ((int(w[1]) << 32) | int(w[0])) % 993
    tokens = np.arange(1000)
    tok, tgt = pt.batch(tokens, seed=5, k=2, rows=4, seq=7)
    assert np.array_equal(tok[:, 0], offsets.astype(np.int64))
    assert np.array_equal(tok[:, 1:], tgt[:, :-1])
    assert not np.array_equal(offsets, pt.batch_offsets(5, 3, 4, 1000, 7))


@test
def init_statistics_accepts_the_distribution_and_catches_scale_errors():
    c = ref.normalize_config({"layers": 2, "d_model": 16, "heads": 4,
                              "kv_heads": 1, "head_dim": 4, "d_ff": 64,
                              "vocab": 32, "seq": 8, "batch": 2})
    for seed in range(5):
        w = ref.random_weights(c, seed=seed)
        bad = [r for r in pi.init_statistics(c, w) if not r[1]]
        assert not bad, (seed, bad)
    w = ref.random_weights(c, seed=0)
    w["layers.1.mlp.wup"] = w["layers.1.mlp.wup"] / math.sqrt(16)  # 1/fan_in
    w["final_ln"] = w["final_ln"] * 0 + 1.5
    w["layers.0.attention.wo"][:2] = 0                             # zero shard
    bad = sorted(r[0] for r in pi.init_statistics(c, w) if not r[1])
    assert bad == ["final_ln", "layers.0.attention.wo",
                   "layers.1.mlp.wup"], bad


def main():
    return run_tests(TESTS)


if __name__ == "__main__":
    sys.exit(main())
