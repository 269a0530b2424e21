#!/usr/bin/env python3
"""Lists the entries of a palm-compile GPU image (--emit=gpu-image):
one line per entry, `ptx <bytes> <first line>` or `cubin sm_<N> <bytes>
elf-sm_<M>`, M read from the ELF's own e_flags (bits 8-15; e_machine must be
190, CUDA). Exits 1 on a malformed image."""

import struct
import sys


def main():
    data = open(sys.argv[1], "rb").read()
    if data[:8] != b"PALMGPU1":
        sys.exit("not a palm GPU image")
    count, zero = struct.unpack_from("<II", data, 8)
    for i in range(count):
        kind, sm, offset, size = struct.unpack_from("<IIQQ", data, 16 + 24 * i)
        if offset % 64 or offset + size > len(data):
            sys.exit("entry %d: bad offset %d or size %d" % (i, offset, size))
        piece = data[offset:offset + size]
        if kind == 0:
            if not piece.endswith(b"\0"):
                sys.exit("entry %d: PTX without its NUL" % i)
            first = piece.split(b"\n", 1)[0].decode()
            print("ptx %d %s" % (size, first))
        elif kind == 1:
            if piece[:4] != b"\x7fELF":
                sys.exit("entry %d: cubin is not ELF" % i)
            machine = struct.unpack_from("<H", piece, 18)[0]
            flags = struct.unpack_from("<I", piece, 48)[0]
            if machine != 190:
                sys.exit("entry %d: e_machine %d, not CUDA" % (i, machine))
            print("cubin sm_%d %d elf-sm_%d" % (sm, size, (flags >> 8) & 0xFF))
        else:
            sys.exit("entry %d: unknown kind %d" % (i, kind))


if __name__ == "__main__":
    main()
