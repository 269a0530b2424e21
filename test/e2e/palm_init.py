"""Independent implementation of the runtime's deterministic inputs.

From docs/runtime-abi.md ("Parameters and inputs"), not from the runtime:

* Philox-4x32-10 (Salmon et al., SC'11; Random123): a counter of four 32-bit
  words and a key of two, ten rounds; checked against Random123's known
  answers in test_palm_init.py.
* The synthetic token stream: token (step, b, p) for p in [0, seq] is
  Philox(key = (seed + 1, 0x70616c6d), counter = (p, b, step, 0))[0] mod
  vocab; tokens[b, p] = token(step, b, p), targets[b, p] = token(step, b,
  p + 1).
* FNV-1a-32 of a parameter name (part of the parameter generator's key).

The parameter values themselves (Box-Muller of the first two Philox words)
are not reproduced bit for bit: the ABI does not fix how the words become
uniforms, nor cos or sin. `init_statistics` instead checks what the
initialisation promises (docs/model.md): LayerNorm scales exactly one, every
other parameter mean ~0 and standard deviation ~ its stddev.

numpy only; works under /usr/bin/python3.
"""

import math

import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
TOKEN_KEY_WORD = 0x70616C6D   # "palm"


def philox4x32_10(counter, key):
    """counter: 4 arrays (or ints) of uint32 words, broadcast together; key:
    2 ints. Returns a list of 4 uint32 arrays, the generator's output."""
    c = [np.asarray(w, dtype=np.uint64) & _MASK for w in counter]
    c = list(np.broadcast_arrays(*c))
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for r in range(10):
        if r:
            k0 = (k0 + _W0) & 0xFFFFFFFF
            k1 = (k1 + _W1) & 0xFFFFFFFF
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        hi0, lo0 = p0 >> _SHIFT, p0 & _MASK
        hi1, lo1 = p1 >> _SHIFT, p1 & _MASK
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
    return [w.astype(np.uint32) for w in c]


def fnv1a32(text):
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def synthetic_tokens(seed, step, batch, seq, vocab):
    """(tokens, targets), int32 [batch, seq], of the runtime's stream."""
    p = np.arange(seq + 1, dtype=np.uint64)[None, :]
    b = np.arange(batch, dtype=np.uint64)[:, None]
    out = philox4x32_10((p, b, step, 0), (seed + 1, TOKEN_KEY_WORD))
    stream = (out[0].astype(np.int64) % vocab).astype(np.int32)
    return stream[:, :-1].copy(), stream[:, 1:].copy()


def init_stddev(config, name):
    """The init stddev of a parameter (None for LayerNorm scales: ones)."""
    last = name.rsplit(".", 1)[-1]
    if name == "final_ln" or last in ("ln", "ln1", "ln2"):
        return None
    if name == "embedding":
        return 1.0
    if last == "wo":
        return 1.0 / math.sqrt(config["heads"] * config["head_dim"])
    if last == "wdown":
        return 1.0 / math.sqrt(config["d_ff"])
    return 1.0 / math.sqrt(config["d_model"])


def init_statistics(config, weights, sigmas=6.0):
    """Checks freshly initialised weights against their distributions.

    Returns a list of (name, ok, text). LayerNorm scales must be exactly one;
    for the others the sample mean must be within `sigmas` standard errors
    of 0 and the sample standard deviation within `sigmas` standard errors
    (std / sqrt(2n)) of the stddev. Catches a wrong scale (1/fan_in for
    1/sqrt(fan_in)), a constant or repeated block, or a zero shard.
    """
    out = []
    for name in sorted(weights):
        w = np.asarray(weights[name], dtype=np.float64)
        std = init_stddev(config, name)
        if std is None:
            ok = bool(np.all(w == 1.0))
            out.append((name, ok, "ones" if ok else
                        "not all ones (min %g, max %g)" % (w.min(), w.max())))
            continue
        n = w.size
        mean, sd = float(w.mean()), float(w.std())
        mean_ok = abs(mean) <= sigmas * std / math.sqrt(n)
        sd_ok = abs(sd - std) <= sigmas * std / math.sqrt(2 * n)
        out.append((name, mean_ok and sd_ok,
                    "n %d mean %.3g std %.4g (expected %.4g)"
                    % (n, mean, sd, std)))
    return out
