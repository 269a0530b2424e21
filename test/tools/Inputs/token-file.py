"""Independent reader of palm token files for the palm-tokenize tests.

  token-file.py summary FILE       header fields, token count check, entropy
  token-file.py corrupt IN OUT HOW  a malformed copy: magic, version, width,
                                    truncate, out-of-range
"""

import math
import struct
import sys
from collections import Counter

HEADER = struct.Struct("<8sIIQQ")  # magic, version, width, vocab, count


def summary(path):
    data = open(path, "rb").read()
    magic, version, width, vocab, count = HEADER.unpack_from(data)
    assert len(data) == HEADER.size + count * width, "size mismatch"
    fmt = {2: "<%dH", 4: "<%dI"}[width] % count
    tokens = struct.unpack_from(fmt, data, HEADER.size)
    freq = Counter(tokens)
    entropy = -sum(c / count * math.log(c / count) for c in freq.values())
    print("magic %r version %d width %d vocab %d count %d max %d" %
          (magic, version, width, vocab, count, max(tokens)))
    print("entropy %.4f" % entropy)


def corrupt(src, dst, how):
    data = bytearray(open(src, "rb").read())
    if how == "magic":
        data[0:8] = b"PALMTOX\0"
    elif how == "version":
        struct.pack_into("<I", data, 8, 2)
    elif how == "width":
        struct.pack_into("<I", data, 12, 3)
    elif how == "truncate":
        del data[-1]
    elif how == "out-of-range":
        vocab = struct.unpack_from("<Q", data, 16)[0]
        struct.pack_into("<H", data, HEADER.size, vocab)
    open(dst, "wb").write(bytes(data))


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        corrupt(*sys.argv[2:5])
