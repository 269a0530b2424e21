"""Reader (and a small writer, for tests) of the runtime's sharded files.

A directory written by `--save-weights DIR` or `--save-outputs DIR` holds an
index (`weights.index.json` or `outputs.index.json`):

    {"format": "palm-shards", "version": 1,
     "mesh": {"axes": ["data", "model"], "shape": [2, 2]},
     "files": ["<rank 0 file>", "<rank 1 file>", ...],
     "tensors": {name: {"dtype": "f32" | "bf16" | "i32" | "i64",
                        "global_shape": [...], "local_shape": [...],
                        "sharding": [[axes of dim 0], [axes of dim 1], ...]}}}

and one safetensors file per rank with that rank's local shard of every
tensor under its name. Ranks map to mesh coordinates row-major (last axis
fastest). A dim of size D split over axes [a1, a2, ...] (major first) has
shard index c = row-major index of the rank's coordinates on those axes, n =
the product of their sizes, local size L = ceil(D / n), and shard c covers
global [c*L, min((c+1)*L, D)); the rest of the local shard is padding and
must be zero (numerically: -0.0 passes, NaN does not). Copies of one element on several ranks (replication) must be
bitwise identical. `load_shards` asserts all of that.

The safetensors reader is written here from the format's definition (8-byte
little-endian header length, a JSON header {name: {"dtype", "shape",
"data_offsets": [begin, end]}} with offsets relative to the end of the
header, optional "__metadata__", then the data); it needs only numpy.
"""

import json
import math
import os
import struct

import numpy as np

INDEX_NAMES = ("weights.index.json", "outputs.index.json")

# index dtype -> (safetensors dtype, numpy storage dtype)
_DTYPES = {
    "f32": ("F32", np.dtype("<f4")),
    "bf16": ("BF16", np.dtype("<u2")),
    "i32": ("I32", np.dtype("<i4")),
    "i64": ("I64", np.dtype("<i8")),
}
_ST_DTYPES = {st: storage for st, storage in _DTYPES.values()}


class ShardError(Exception):
    """A malformed or inconsistent shard directory."""


def bf16_to_f32(bits):
    """uint16 bfloat16 bit patterns -> float32 (exact)."""
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def f32_to_bf16(values):
    """float32 -> uint16 bfloat16 bit patterns, round to nearest even
    (NaN kept NaN)."""
    v = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((v >> np.uint32(16)) & np.uint32(1))
    out = ((v + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    out[nan] = np.uint16(0x7FC0)
    return out


def read_safetensors(path):
    """{name: numpy array} of a safetensors file. BF16 tensors come back as
    uint16 bit patterns (see bf16_to_f32); the dtype of every array is the
    little-endian storage dtype of its safetensors dtype."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ShardError("%s: shorter than the 8-byte header length" % path)
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ShardError("%s: header length %d past the end of the file (%d "
                         "bytes)" % (path, header_len, len(blob)))
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ShardError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise ShardError("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + header_len:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            st_dtype = info["dtype"]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ShardError("%s: tensor %r: malformed header entry %r"
                             % (path, name, info))
        if st_dtype not in _ST_DTYPES:
            raise ShardError("%s: tensor %r: unsupported dtype %r"
                             % (path, name, st_dtype))
        storage = _ST_DTYPES[st_dtype]
        if any(d < 0 for d in shape):
            raise ShardError("%s: tensor %r: negative dim in %s"
                             % (path, name, shape))
        nbytes = int(np.prod(shape, dtype=np.int64)) * storage.itemsize
        if not 0 <= begin <= end <= len(data):
            raise ShardError("%s: tensor %r: data_offsets [%d, %d] outside "
                             "the %d data bytes" % (path, name, begin, end,
                                                    len(data)))
        if end - begin != nbytes:
            raise ShardError("%s: tensor %r: %d bytes for shape %s of %s, "
                             "expected %d" % (path, name, end - begin, shape,
                                              st_dtype, nbytes))
        out[name] = np.frombuffer(data[begin:end], dtype=storage).reshape(
            shape).copy()
    return out


def write_safetensors(path, tensors, st_dtypes=None):
    """Writes {name: array} as safetensors. st_dtypes optionally maps names to
    "F32"/"BF16"/"I32"/"I64" (BF16 arrays are uint16 bit patterns); by default
    the dtype follows the array (float32, int32, int64)."""
    st_dtypes = dict(st_dtypes or {})
    by_numpy = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32",
                np.dtype(np.int64): "I64", np.dtype(np.uint16): "BF16"}
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        st = st_dtypes.get(name) or by_numpy.get(arr.dtype)
        if st is None:
            raise ValueError("no safetensors dtype for %s (%s)"
                             % (name, arr.dtype))
        raw = np.ascontiguousarray(arr, dtype=_ST_DTYPES[st]).tobytes()
        header[name] = {"dtype": st, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def rank_coordinates(rank, mesh_shape):
    """Mesh coordinates of a rank, row-major (last axis fastest)."""
    coords = []
    for size in reversed(mesh_shape):
        coords.append(rank % size)
        rank //= size
    return tuple(reversed(coords))


def shard_index(coords, mesh_axes, mesh_shape, dim_axes):
    """(c, n): the shard index of a rank along a dim split over dim_axes
    (major first), and the number of shards."""
    c, n = 0, 1
    for axis in dim_axes:
        i = mesh_axes.index(axis)
        c = c * mesh_shape[i] + coords[i]
        n *= mesh_shape[i]
    return c, n


def _check_index(index, where):
    if not isinstance(index, dict):
        raise ShardError("%s: not a JSON object" % where)
    if index.get("format") != "palm-shards":
        raise ShardError("%s: format is %r, expected 'palm-shards'"
                         % (where, index.get("format")))
    if index.get("version") != 1:
        raise ShardError("%s: version %r, expected 1"
                         % (where, index.get("version")))
    mesh = index.get("mesh")
    if not isinstance(mesh, dict) or not isinstance(mesh.get("axes"), list) \
            or not isinstance(mesh.get("shape"), list) \
            or len(mesh["axes"]) != len(mesh["shape"]):
        raise ShardError("%s: malformed mesh %r" % (where, mesh))
    if len(set(mesh["axes"])) != len(mesh["axes"]):
        raise ShardError("%s: repeated mesh axis in %r" % (where,
                                                           mesh["axes"]))
    if any(not isinstance(s, int) or s <= 0 for s in mesh["shape"]):
        raise ShardError("%s: mesh sizes must be positive integers: %r"
                         % (where, mesh["shape"]))
    world = int(np.prod(mesh["shape"], dtype=np.int64))
    files = index.get("files")
    if not isinstance(files, list) or len(files) != world:
        raise ShardError("%s: 'files' must list one file per rank (%d), got "
                         "%r" % (where, world, files))
    tensors = index.get("tensors")
    if not isinstance(tensors, dict):
        raise ShardError("%s: 'tensors' must be an object" % where)
    for name, t in tensors.items():
        what = "%s: tensor %r" % (where, name)
        try:
            dtype = t["dtype"]
            gshape = [int(d) for d in t["global_shape"]]
            lshape = [int(d) for d in t["local_shape"]]
            sharding = [list(a) for a in t["sharding"]]
        except (KeyError, TypeError, ValueError):
            raise ShardError("%s: malformed entry %r" % (what, t))
        if dtype not in _DTYPES:
            raise ShardError("%s: unknown dtype %r" % (what, dtype))
        if not (len(gshape) == len(lshape) == len(sharding)):
            raise ShardError("%s: global_shape, local_shape and sharding "
                             "differ in rank" % what)
        used = [a for axes in sharding for a in axes]
        for a in used:
            if a not in mesh["axes"]:
                raise ShardError("%s: unknown mesh axis %r" % (what, a))
        if len(set(used)) != len(used):
            raise ShardError("%s: a mesh axis appears twice in %r"
                             % (what, sharding))
        for d, (g, l, axes) in enumerate(zip(gshape, lshape, sharding)):
            n = 1
            for a in axes:
                n *= mesh["shape"][mesh["axes"].index(a)]
            if g < 0 or l != -(-g // n):
                raise ShardError("%s: dim %d: local size %d, expected "
                                 "ceil(%d / %d) = %d"
                                 % (what, d, l, g, n, -(-g // n)))
    return mesh["axes"], mesh["shape"], files, tensors


def find_index(directory):
    """The index file of a shard directory."""
    found = [n for n in INDEX_NAMES
             if os.path.isfile(os.path.join(directory, n))]
    if not found:
        found = sorted(n for n in os.listdir(directory)
                       if n.endswith(".index.json"))
    if len(found) != 1:
        raise ShardError("%s: expected one *.index.json, found %s"
                         % (directory, found or "none"))
    return os.path.join(directory, found[0])


def load_shards(directory, index_file=None, names=None, bf16_as_f32=True):
    """Reassembles the global tensors of a shard directory.

    Returns ({name: global numpy array}, index dict). f32 -> float32, bf16 ->
    float32 (or uint16 bit patterns with bf16_as_f32=False), i32 -> int32,
    i64 -> int64. names restricts which tensors are assembled. Raises
    ShardError on any inconsistency: a missing file or tensor, a wrong local
    shape or dtype, non-zero padding, replicas that differ, or elements no
    rank holds.
    """
    index_path = (os.path.join(directory, index_file) if index_file
                  else find_index(directory))
    try:
        with open(index_path) as f:
            index = json.load(f)
    except ValueError as e:
        raise ShardError("%s: not JSON: %s" % (index_path, e))
    axes, mesh_shape, files, tensors = _check_index(index, index_path)
    wanted = sorted(tensors) if names is None else list(names)
    for name in wanted:
        if name not in tensors:
            raise ShardError("%s: no tensor %r (has %s)"
                             % (index_path, name, ", ".join(sorted(tensors))))

    glob = {}
    filled = {}
    for name in wanted:
        t = tensors[name]
        storage = _DTYPES[t["dtype"]][1]
        glob[name] = np.zeros(t["global_shape"], dtype=storage)
        filled[name] = np.zeros(t["global_shape"], dtype=bool)

    for rank, fname in enumerate(files):
        path = os.path.join(directory, fname)
        if not os.path.isfile(path):
            raise ShardError("%s: rank %d's file %s is missing"
                             % (index_path, rank, fname))
        local = read_safetensors(path)
        coords = rank_coordinates(rank, mesh_shape)
        for name in wanted:
            t = tensors[name]
            where = "%s (rank %d, coordinates %s): tensor %r" % (
                path, rank, coords, name)
            if name not in local:
                raise ShardError("%s: missing" % where)
            arr = local[name]
            st_dtype, storage = _DTYPES[t["dtype"]]
            if arr.dtype != storage:
                raise ShardError("%s: stored as %s, index says %s"
                                 % (where, arr.dtype, t["dtype"]))
            if list(arr.shape) != list(t["local_shape"]):
                raise ShardError("%s: shape %s, index says local_shape %s"
                                 % (where, list(arr.shape),
                                    t["local_shape"]))
            gsl, lsl = [], []
            for d, dim_axes in enumerate(t["sharding"]):
                D = t["global_shape"][d]
                L = t["local_shape"][d]
                c, _ = shard_index(coords, axes, mesh_shape, dim_axes)
                lo = min(c * L, D)
                hi = min((c + 1) * L, D)
                gsl.append(slice(lo, hi))
                lsl.append(slice(0, hi - lo))
            gsl, lsl = tuple(gsl), tuple(lsl)
            valid = np.zeros(arr.shape, dtype=bool)
            valid[lsl] = True
            pad = arr[~valid]
            if t["dtype"] == "bf16":
                pad = bf16_to_f32(pad)
            if pad.size and not np.all(pad == 0):
                bad = np.argwhere(~valid)[pad != 0]
                raise ShardError("%s: padding is not zero (%d non-zero "
                                 "padding elements, first at local index %s)"
                                 % (where, len(bad),
                                    tuple(int(i) for i in bad[0])))
            piece = arr[lsl]
            g = glob[name][gsl]
            seen = filled[name][gsl]
            if np.any(seen):
                view = _int_view(arr.dtype)
                differ = seen & (g.view(view) != piece.view(view))
                if np.any(differ):
                    first = tuple(int(i) for i in np.argwhere(differ)[0])
                    gi = tuple(s.start + i for s, i in zip(gsl, first))
                    raise ShardError(
                        "%s: replica differs from another rank's copy at "
                        "global index %s: %r vs %r"
                        % (where, gi, piece[first], g[first]))
            glob[name][gsl] = piece
            filled[name][gsl] = True

    for name in wanted:
        if not np.all(filled[name]):
            first = tuple(int(i) for i in np.argwhere(~filled[name])[0])
            raise ShardError("%s: tensor %r: global index %s is held by no "
                             "rank" % (index_path, name, first))
        if tensors[name]["dtype"] == "bf16" and bf16_as_f32:
            glob[name] = bf16_to_f32(glob[name])
    return glob, index


def _int_view(dtype):
    return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[
        np.dtype(dtype).itemsize]


def write_shards(directory, index_name, mesh_axes, mesh_shape, tensors,
                 file_pattern="rank-{rank:05d}.safetensors"):
    """Writes a shard directory the way the runtime does (for tests).

    tensors: {name: (global array, sharding, dtype)} with sharding a list per
    dim of mesh axes (major first) and dtype "f32"/"bf16"/"i32"/"i64" (bf16
    arrays may be float32: they are rounded). Written independently of
    load_shards: each rank's local block is cut out of the global array by
    explicit per-element index arithmetic.
    """
    os.makedirs(directory, exist_ok=True)
    world = 1
    for s in mesh_shape:
        world *= s
    sizes = dict(zip(mesh_axes, mesh_shape))
    entries = {}
    for name, (arr, sharding, dtype) in tensors.items():
        arr = np.asarray(arr)
        local_shape = []
        for D, dim_axes in zip(arr.shape, sharding):
            n = 1
            for a in dim_axes:
                n *= sizes[a]
            local_shape.append(int(math.ceil(D / float(n))) if D else 0)
        entries[name] = {"dtype": dtype, "global_shape": list(arr.shape),
                         "local_shape": local_shape,
                         "sharding": [list(a) for a in sharding]}
    files = []
    for rank in range(world):
        # coordinates: peel the last axis first
        coords = {}
        r = rank
        for axis, size in reversed(list(zip(mesh_axes, mesh_shape))):
            coords[axis] = r % size
            r //= size
        out, st = {}, {}
        for name, (arr, sharding, dtype) in tensors.items():
            arr = np.asarray(arr)
            e = entries[name]
            if dtype == "bf16":
                src = f32_to_bf16(arr)
            else:
                src = arr.astype(_DTYPES[dtype][1])
            local = np.zeros(e["local_shape"], dtype=src.dtype)
            for lidx in np.ndindex(*e["local_shape"]):
                gidx = []
                for d, dim_axes in enumerate(sharding):
                    c = 0
                    for a in dim_axes:
                        c = c * sizes[a] + coords[a]
                    gidx.append(c * e["local_shape"][d] + lidx[d])
                if all(g < D for g, D in zip(gidx, arr.shape)):
                    local[lidx] = src[tuple(gidx)]
            out[name] = local
            st[name] = _DTYPES[dtype][0]
        fname = file_pattern.format(rank=rank)
        write_safetensors(os.path.join(directory, fname), out, st)
        files.append(fname)
    index = {"format": "palm-shards", "version": 1,
             "mesh": {"axes": list(mesh_axes), "shape": list(mesh_shape)},
             "files": files, "tensors": entries}
    with open(os.path.join(directory, index_name), "w") as f:
        json.dump(index, f, indent=1)
    return index
