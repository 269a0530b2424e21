"""Token files of --data and the batches the runtime cuts from them.

From docs/data.md, not from the runtime:

* A token file is a 32-byte little-endian header -- the magic b"PALMTOK\\0",
  u32 version 1, u32 token width (2 or 4 bytes), u64 vocabulary size, u64
  token count -- and then the tokens (u16 or u32 each).
* Row r of step k (k = 1 for the first step) is the window of seq + 1 tokens
  starting at batch_offsets(seed, k, ...)[r]: with (w0, w1) =
  Philox(key = (seed, 0x64617461), counter = (r, k, 0, 1)), the offset is
  (w0 + 2^32 w1) mod (count - seq). tokens = window[:seq], targets =
  window[1:].

The generator is palm_init's Philox-4x32-10. numpy only.
"""

import struct

import numpy as np

from palm_init import philox4x32_10

MAGIC = b"PALMTOK\0"
VERSION = 1
HEADER_BYTES = 32
DATA_KEY_WORD = 0x64617461    # "data"


def write_tokens(path, tokens, vocab, width=None):
    """Writes `tokens` (ints in [0, vocab)) as a token file; width 2 when the
    vocabulary fits 16 bits unless given."""
    tokens = np.asarray(tokens, dtype=np.int64).ravel()
    if width is None:
        width = 2 if vocab <= 1 << 16 else 4
    if width not in (2, 4):
        raise ValueError("width must be 2 or 4, not %r" % width)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
        raise ValueError("tokens must be in [0, %d)" % vocab)
    body = tokens.astype("<u2" if width == 2 else "<u4").tobytes()
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<IIQQ", VERSION, width, vocab,
                                    tokens.size) + body)


def read_tokens(path):
    """(tokens as int64, vocab) of a token file; ValueError if malformed."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < HEADER_BYTES or blob[:8] != MAGIC:
        raise ValueError("%s: not a token file" % path)
    version, width, vocab, count = struct.unpack("<IIQQ", blob[8:32])
    if version != VERSION or width not in (2, 4):
        raise ValueError("%s: version %d, width %d" % (path, version, width))
    if len(blob) != HEADER_BYTES + count * width:
        raise ValueError("%s: %d bytes for %d tokens" % (path, len(blob),
                                                         count))
    tokens = np.frombuffer(blob[HEADER_BYTES:],
                           dtype="<u2" if width == 2 else "<u4")
    return tokens.astype(np.int64), vocab


def batch_offsets(seed, k, rows, count, seq, stream=1):
    """The window start of each of `rows` rows at step k (uint64 [rows]);
    stream 2 gives --eval-data's batch k."""
    r = np.arange(rows, dtype=np.uint64)
    w = philox4x32_10((r, k, 0, stream), (seed, DATA_KEY_WORD))
    draw = (w[1].astype(np.uint64) << np.uint64(32)) | w[0].astype(np.uint64)
    return draw % np.uint64(count - seq)


def batch(tokens, seed, k, rows, seq, stream=1):
    """(tokens, targets), int64 [rows, seq], of step k from a token array
    (stream 2: of --eval-data's batch k)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    starts = batch_offsets(seed, k, rows, tokens.size, seq,
                           stream).astype(np.int64)
    windows = tokens[starts[:, None] + np.arange(seq + 1)[None, :]]
    return windows[:, :-1].copy(), windows[:, 1:].copy()
