"""Random well-typed global palm programs: representation, generator, printer.

A program is a mesh, function arguments, a list of ops and a list of
results, all plain data (dicts and lists) so that it serialises to JSON and
the shrinker can edit it. Values are named by strings; an op defines one
value, `op["name"]`. Types are `(shape tuple, dtype)` with dtype one of
f32, bf16, i32, i64.

A *case* is one program built by `generate_case(seed, case)`; cases that
share a mesh and a token context (batch, seq, vocab) are merged into one
function by `merge` so that one compile and one mpirun check several.
Members never share values except the token context's arguments (`tokens`,
`targets`, `embedding`), which are always annotated, so that propagation
cannot carry a sharding from one member to another.
"""

import copy
import json
import random

FLOAT = ("f32", "bf16")
INT = ("i32", "i64")
# Sizes drawn for dimensions: small, primes, sizes below a mesh axis.
DIM_SIZES = [1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 8, 9, 11, 12, 13, 16]
MAX_ELEMENTS = 4096
OP_KINDS = ["embedding", "layer_norm", "dot_general", "rope", "attention",
            "add", "mul", "silu", "scale", "convert", "cross_entropy",
            "transpose", "reshape", "sharding_constraint"]
MESHES_AXES = ["x", "y", "z"]
# bf16 in the heavy ops (matmul, attention, LayerNorm, RoPE, lookup, loss)
# and i64 ids: rates chosen when the CPU backend refused both (it computes
# bf16 heavy ops on f32 copies since 234c7b8; i64 ids are still refused).
P_BF16 = 0.04
P_I64 = 0.04
P_BF16_ELEMENTWISE = 0.2
P_CONSTRAIN = 0.3
# Gradient mode: the share of batches whose cases may compute in bf16 (at
# the rates above). A batch's cases share one loss, so one bf16 value
# gives every gradient of the batch the bf16 tolerance.
P_BF16_BATCH_GRADS = 0.25


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def type_str(shape, dtype):
    return "tensor<%s%s>" % ("".join("%dx" % d for d in shape), dtype)


def sharding_str(mesh_name, sharding):
    dims = ", ".join("[%s]" % ", ".join(axes) for axes in sharding["dims"])
    text = "<@%s, [%s]" % (mesh_name, dims)
    if sharding.get("unreduced"):
        text += ", unreduced = [%s]" % ", ".join(
            "%s: %s" % (a, k) for a, k in sharding["unreduced"])
    return text + ">"


# ----------------------------------------------------------------------------
# Generation


class Gen:
    """Builds one case: a random graph over every palm tensor op."""

    def __init__(self, rng, mesh, context, prefix):
        self.rng = rng
        self.mesh = mesh            # [(axis, size)]
        self.context = context      # token context, shared by a batch
        self.prefix = prefix
        self.args = []
        self.ops = []
        self.types = {}             # value name -> (shape, dtype)
        self.counter = 0
        self.uses_context = set()
        # Gradient mode draws bf16 per batch (context "bf16"): a bf16 value
        # anywhere reaches the shared loss and so every gradient.
        self.p_bf16 = P_BF16 if context.get("bf16", True) else 0.0
        self.p_bf16_elementwise = (P_BF16_ELEMENTWISE if context.get(
            "bf16", True) else 0.0)

    # -- names and leaves --------------------------------------------------
    def fresh(self, kind):
        self.counter += 1
        return "%s%s%d" % (self.prefix, kind, self.counter)

    def random_sharding(self, shape, dtype, p_axis=0.5, allow_unreduced=False):
        dims = [[] for _ in shape]
        unreduced = []
        axes = [a for a, _ in self.mesh]
        self.rng.shuffle(axes)
        for axis in axes:
            r = self.rng.random()
            if r < p_axis and shape:
                # Prefer splitting dimensions, but any dimension will do
                # (sizes smaller than the axis give padding shards).
                dims[self.rng.randrange(len(shape))].append(axis)
            elif (allow_unreduced and dtype in FLOAT and
                  r < p_axis + 0.02):
                unreduced.append((axis, "sum"))
        return {"dims": dims, "unreduced": unreduced}

    def maybe_sharding(self, shape, dtype, p=0.5):
        if self.rng.random() < p:
            return self.random_sharding(shape, dtype)
        return None

    def new_param(self, shape, dtype, sigma=None):
        name = self.fresh("p")
        if sigma is None:
            sigma = self.rng.choice([1.0, 1.0, 0.5, 0.25])
        init = "normal(%r)" % sigma
        if self.rng.random() < 0.05:
            init = "ones"
        self.args.append({"name": name, "shape": list(shape), "dtype": dtype,
                          "kind": "param", "init": init,
                          "sharding": self.maybe_sharding(shape, dtype)})
        self.types[name] = (tuple(shape), dtype)
        return name

    def new_ids(self, shape, dtype=None):
        """An integer input that is not tokens/targets: the runtime passes
        zeros, which are valid ids and targets for any vocabulary."""
        name = self.fresh("ids")
        dtype = dtype or ("i64" if self.rng.random() < P_I64 else "i32")
        self.args.append({"name": name, "shape": list(shape), "dtype": dtype,
                          "kind": "input", "init": None,
                          "sharding": self.maybe_sharding(shape, dtype)})
        self.types[name] = (tuple(shape), dtype)
        return name

    def context_value(self, which):
        self.uses_context.add(which)
        return which

    def heavy_dtype(self):
        return "bf16" if self.rng.random() < self.p_bf16 else "f32"

    def rand_dim(self):
        return self.rng.choice(DIM_SIZES)

    def rand_shape(self, rank, limit=MAX_ELEMENTS):
        while True:
            shape = [self.rand_dim() for _ in range(rank)]
            if numel(shape) <= limit:
                return shape

    # -- value picking -----------------------------------------------------
    def values(self, pred):
        return [n for n, t in self.types.items() if pred(t)]

    def pick(self, pred, make, p_new=0.3):
        cands = self.values(pred)
        if cands and self.rng.random() >= p_new:
            # Recent values first, so that graphs are deep, not wide.
            if self.rng.random() < 0.6:
                return cands[-1] if len(cands) < 3 else self.rng.choice(
                    cands[-3:])
            return self.rng.choice(cands)
        return make()

    def float_value(self, dtype=None, rank=None, min_rank=0, max_rank=4,
                    elementwise=False):
        def pred(t):
            shape, dt = t
            return (dt in FLOAT and (dtype is None or dt == dtype) and
                    (rank is None or len(shape) == rank) and
                    min_rank <= len(shape) <= max_rank)

        def make():
            r = rank if rank is not None else self.rng.randint(
                max(min_rank, 1), min(max_rank, 3))
            dt = dtype
            if dt is None:
                # The CPU backend computes elementwise ops in bf16.
                dt = "bf16" if elementwise and self.rng.random() < \
                    self.p_bf16_elementwise else "f32"
            return self.new_param(self.rand_shape(r), dt)
        return self.pick(pred, make)

    def emit(self, kind, operands, shape, dtype, **attrs):
        name = self.fresh("v")
        self.ops.append({"kind": kind, "name": name, "operands": operands,
                         "shape": list(shape), "dtype": dtype,
                         "attrs": attrs})
        self.types[name] = (tuple(shape), dtype)
        return name

    # -- one op of each kind -----------------------------------------------
    def op_embedding(self):
        ctx = self.context
        if self.rng.random() < 0.6:
            ids = self.context_value(self.rng.choice(["tokens", "targets"]))
            ishape = (ctx["batch"], ctx["seq"])
            if self.rng.random() < 0.3:
                ids = self.emit("transpose", [ids], ishape[::-1],
                                ctx["dtype"], permutation=[1, 0])
                ishape = ishape[::-1]
            rows = ctx["vocab"]
            if self.rng.random() < 0.5:
                table = self.context_value("embedding")
                width = ctx["width"]
                dtype = "f32"
            else:
                width = self.rand_dim()
                dtype = self.heavy_dtype()
                table = self.pick(
                    lambda t: t[1] == dtype and list(t[0]) == [rows, width],
                    lambda: self.new_param([rows, width], dtype))
        else:
            ishape = self.rand_shape(self.rng.randint(1, 2), 256)
            ids = self.new_ids(ishape)
            rows, width = self.rand_dim(), self.rand_dim()
            dtype = self.heavy_dtype()
            table = self.new_param([rows, width], dtype)
        return self.emit("embedding", [table, ids], list(ishape) + [width],
                         self.types[table][1])

    def op_layer_norm(self):
        x = self.float_value(min_rank=1)
        shape, dtype = self.types[x]
        if self.context.get("grads") and shape[-1] == 2:
            # Two features normalize to +-1 whatever the input, so the
            # input's gradient is epsilon-sized: f32 rounding noise of
            # terms ~1e5 times larger, in any summation order.
            return None
        scale = self.pick(lambda t: t == ((shape[-1],), dtype),
                          lambda: self.new_param([shape[-1]], dtype,
                                                 sigma=1.0), p_new=0.8)
        attrs = {}
        if self.rng.random() < 0.2:
            attrs["epsilon"] = self.rng.choice([1e-5, 1e-3])
        return self.emit("layer_norm", [x, scale], shape, dtype, **attrs)

    def op_dot_general(self):
        lhs = self.float_value(min_rank=1)
        lshape, dtype = self.types[lhs]
        rank = len(lshape)
        dims = list(range(rank))
        self.rng.shuffle(dims)
        nb = self.rng.randint(0, min(2, rank - 1)) if rank > 1 else 0
        nc = self.rng.randint(0 if rank - nb > 1 else 1, min(2, rank - nb))
        if nc == 0 and self.rng.random() < 0.7:
            nc = 1
        lbatch, lcontr = dims[:nb], dims[nb:nb + nc]
        lfree = [d for d in range(rank) if d not in lbatch + lcontr]
        if self.rng.random() < 0.15 and nc >= 1:
            # A product of a value with itself (scores q.q^T): the same
            # positions on both sides.
            rhs = lhs
            rbatch, rcontr = list(lbatch), list(lcontr)
            rfree = list(lfree)
            rshape = list(lshape)
        else:
            nfree = self.rng.randint(0, 2)
            rrank = nb + nc + nfree
            pos = list(range(rrank))
            self.rng.shuffle(pos)
            rbatch, rcontr = pos[:nb], pos[nb:nb + nc]
            rshape = [0] * rrank
            for l, r in zip(lbatch, rbatch):
                rshape[r] = lshape[l]
            for l, r in zip(lcontr, rcontr):
                rshape[r] = lshape[l]
            rfree = sorted(pos[nb + nc:])
            for r in rfree:
                rshape[r] = self.rand_dim()
            rhs = self.pick(lambda t: t == (tuple(rshape), dtype),
                            lambda: self.new_param(rshape, dtype), p_new=0.8)
        out = ([lshape[d] for d in lbatch] + [lshape[d] for d in lfree] +
               [rshape[d] for d in rfree])
        if len(out) > 5 or numel(out) > MAX_ELEMENTS:
            return None
        return self.emit("dot_general", [lhs, rhs], out, dtype,
                         lhs_batch=lbatch, rhs_batch=rbatch,
                         lhs_contracting=lcontr, rhs_contracting=rcontr)

    def rank4(self, even_last=False):
        def pred(t):
            return (t[1] in FLOAT and len(t[0]) == 4 and
                    (not even_last or t[0][3] % 2 == 0))

        def make():
            shape = self.rand_shape(4, 1024)
            if even_last and shape[3] % 2:
                shape[3] += 1
            return self.new_param(shape, self.heavy_dtype())
        return self.pick(pred, make, p_new=0.4)

    def op_rope(self):
        x = self.rank4(even_last=True)
        shape, dtype = self.types[x]
        attrs = {}
        if self.rng.random() < 0.2:
            attrs["base"] = self.rng.choice([100.0, 500000.0])
        return self.emit("rope", [x], shape, dtype, **attrs)

    def op_attention(self):
        q = self.rank4()
        (b, s, h, d), dtype = self.types[q]
        divisors = [k for k in range(1, h + 1) if h % k == 0]
        style = self.rng.choice(["mha", "mqa", "gqa"])
        kvh = {"mha": h, "mqa": 1,
               "gqa": self.rng.choice(divisors[1:-1] or divisors)}[style]
        causal = self.rng.random() < 0.5
        t = s if causal or self.rng.random() < 0.5 else self.rand_dim()
        dv = d if self.rng.random() < 0.7 else self.rand_dim()
        kshape, vshape = (b, t, kvh, d), (b, t, kvh, dv)
        k = self.pick(lambda ty: ty == (kshape, dtype),
                      lambda: self.new_param(kshape, dtype), p_new=0.6)
        v = self.pick(lambda ty: ty == (vshape, dtype),
                      lambda: self.new_param(vshape, dtype), p_new=0.6)
        attrs = {"causal": causal}
        if self.rng.random() < 0.2:
            attrs["scale"] = self.rng.choice([0.125, 0.5, 1.0])
        return self.emit("attention", [q, k, v], [b, s, h, dv], dtype, **attrs)

    def op_binary(self, kind):
        x = self.float_value(elementwise=True)
        ty = self.types[x]
        y = self.pick(lambda t: t == ty,
                      lambda: self.new_param(list(ty[0]), ty[1]), p_new=0.5)
        if self.rng.random() < 0.5:
            x, y = y, x
        return self.emit(kind, [x, y], ty[0], ty[1])

    def op_unary(self, kind):
        x = self.float_value(elementwise=True)
        shape, dtype = self.types[x]
        attrs = {}
        if kind == "scale":
            attrs["factor"] = self.rng.choice([0.5, 0.25, 2.0, 0.125, 3.0])
        if kind == "convert":
            out = "bf16" if dtype == "f32" else "f32"
            return self.emit(kind, [x], shape, out)
        return self.emit(kind, [x], shape, dtype, **attrs)

    def op_cross_entropy(self):
        ctx = self.context
        full = (ctx["batch"], ctx["seq"], ctx["vocab"])
        if self.rng.random() < 0.4:
            logits = self.pick(lambda t: t[1] in FLOAT and t[0] == full,
                               lambda: self.new_param(list(full), "f32"),
                               p_new=0.5)
            targets = self.context_value(self.rng.choice(["targets",
                                                          "tokens"]))
        else:
            logits = self.float_value(min_rank=2)
            targets = self.new_ids(self.types[logits][0][:-1])
        attrs = {}
        if self.rng.random() < 0.3:
            attrs["z_loss"] = self.rng.choice([0.0, 1e-2])
        return self.emit("cross_entropy", [logits, targets], [], "f32",
                         **attrs)

    def op_transpose(self):
        x = self.float_value(min_rank=2)
        shape, dtype = self.types[x]
        perm = list(range(len(shape)))
        while perm == sorted(perm):
            self.rng.shuffle(perm)
        return self.emit("transpose", [x], [shape[p] for p in perm], dtype,
                         permutation=perm)

    def op_reshape(self):
        x = self.float_value(min_rank=1)
        shape, dtype = list(self.types[x][0]), self.types[x][1]
        r = self.rng.random()
        if r < 0.35 and len(shape) >= 2:
            i = self.rng.randrange(len(shape) - 1)
            out = shape[:i] + [shape[i] * shape[i + 1]] + shape[i + 2:]
        elif r < 0.7:
            i = self.rng.randrange(len(shape))
            f = [k for k in range(2, shape[i]) if shape[i] % k == 0]
            if not f:
                out = shape[:i] + [1, shape[i]] + shape[i + 1:]
            else:
                k = self.rng.choice(f)
                out = shape[:i] + [k, shape[i] // k] + shape[i + 1:]
        elif r < 0.85:
            i = self.rng.randrange(len(shape) + 1)
            out = shape[:i] + [1] + shape[i:]
        else:
            n = numel(shape)
            f = [k for k in range(1, n + 1) if n % k == 0]
            k = self.rng.choice(f)
            out = [k, n // k]
        if len(out) > 5:
            return None
        return self.emit("reshape", [x], out, dtype)

    def op_sharding_constraint(self):
        x = self.pick(lambda t: True, lambda: self.float_value(), p_new=0.0)
        shape, dtype = self.types[x]
        # Unreduced axes only where the value may be partial (a partial
        # value cannot be made from a whole one: a documented refusal).
        producer = next((o for o in self.ops if o["name"] == x), None)
        partial = producer is not None and producer["kind"] in (
            "dot_general", "embedding", "add")
        return self.emit("sharding_constraint", [x], shape, dtype,
                         sharding=self.random_sharding(
                             shape, dtype, p_axis=0.6,
                             allow_unreduced=partial))

    # -- gradient mode: the member's logits -------------------------------
    def project(self, h):
        """h mapped linearly onto the loss's logits [batch, seq, vocab]
        (f32): contracted with a parameter over all of its dimensions but
        (at most) one, which a second contraction maps onto the logits.
        The cotangent reaching h is then a full random tensor."""
        ctx = self.context
        logits = [ctx["batch"], ctx["seq"], ctx["vocab"]]
        if self.types[h][1] != "f32":
            h = self.emit("convert", [h], self.types[h][0], "f32")
        shape = list(self.types[h][0])
        keep = [i for i, d in enumerate(shape)
                if d * numel(logits) <= MAX_ELEMENTS]
        if shape and keep and self.rng.random() < 0.8:
            i = self.rng.choice(keep)
        else:
            i = None
        others = [d for d in range(len(shape)) if d != i]
        if others:
            # u's dimensions in any order: the contraction's partners.
            pos = list(range(len(others)))
            self.rng.shuffle(pos)
            ushape = [0] * len(others)
            for d, q in zip(others, pos):
                ushape[q] = shape[d]
            u = self.new_param(ushape, "f32")
            out = [] if i is None else [shape[i]]
            h = self.emit("dot_general", [h, u], out, "f32", lhs_batch=[],
                          rhs_batch=[], lhs_contracting=others,
                          rhs_contracting=pos)
        if i is None:
            h = self.emit("reshape", [h], [1], "f32")
        m = self.types[h][0][0]
        at = self.rng.randrange(len(logits) + 1)
        wshape = logits[:at] + [m] + logits[at:]
        w = self.new_param(wshape, "f32", sigma=self.rng.choice([0.25, 0.5]))
        return self.emit("dot_general", [h, w], logits, "f32", lhs_batch=[],
                         rhs_batch=[], lhs_contracting=[0],
                         rhs_contracting=[at])

    def logits(self, sinks):
        """The member's logits: the sum of its float sinks' projections, so
        that every parameter reaches the loss (autodiff refuses one that
        does not)."""
        total = None
        for h in sinks:
            if self.types[h][1] not in FLOAT:
                continue        # ids (a constraint of them): no parameter
            part = self.project(h)
            total = part if total is None else self.emit(
                "add", [total, part], self.types[part][0], "f32")
        if self.rng.random() < P_CONSTRAIN:
            total = self.emit("sharding_constraint", [total],
                              self.types[total][0], "f32",
                              sharding=self.random_sharding(
                                  self.types[total][0], "f32", p_axis=0.6))
        return total

    def op(self, kind):
        if kind in ("add", "mul"):
            return self.op_binary(kind)
        if kind in ("silu", "scale", "convert"):
            return self.op_unary(kind)
        return getattr(self, "op_" + kind)()


def random_mesh(rng):
    while True:
        n = rng.choice([1, 1, 2, 2, 2, 3, 3])
        sizes = [rng.choice([1, 2, 2, 2, 3, 4, 8]) for _ in range(n)]
        if numel(sizes) <= 8 and numel(sizes) > 1:
            return list(zip(MESHES_AXES[:n], sizes))


def random_context(rng, mesh, grads=False):
    """The token context of a batch and its (always annotated) arguments.
    In gradient mode also whether its cases may compute in bf16, and the
    z-loss of the batch's loss."""
    ctx = {"batch": rng.choice([1, 2, 3, 4]), "seq": rng.choice(
        [2, 3, 4, 5, 7, 8]), "vocab": rng.choice([5, 7, 8, 11, 13, 16]),
        "width": rng.choice([3, 4, 6, 8]),
        "dtype": "i64" if rng.random() < P_I64 else "i32"}
    g = Gen(rng, mesh, ctx, "")
    ctx["sharding"] = {
        "tokens": g.random_sharding([ctx["batch"], ctx["seq"]], "i32"),
        "targets": g.random_sharding([ctx["batch"], ctx["seq"]], "i32"),
        "embedding": g.random_sharding([ctx["vocab"], ctx["width"]], "f32")}
    if grads:
        ctx["grads"] = True
        ctx["bf16"] = rng.random() < P_BF16_BATCH_GRADS
        if rng.random() < 0.3:
            ctx["z_loss"] = rng.choice([0.0, 1e-2])
    return ctx


def context_args(ctx, used):
    """The arguments of the token context that a program needs: the
    runtime takes the vocabulary of tokens from the `embedding` parameter,
    so it comes along with either."""
    args = []
    if used & {"tokens", "targets", "embedding"}:
        for name in ("tokens", "targets"):
            args.append({"name": name, "shape": [ctx["batch"], ctx["seq"]],
                         "dtype": ctx["dtype"], "kind": "input",
                         "init": None, "sharding": ctx["sharding"][name]})
        args.append({"name": "embedding",
                     "shape": [ctx["vocab"], ctx["width"]], "dtype": "f32",
                     "kind": "param", "init": "normal(1.0)",
                     "sharding": ctx["sharding"]["embedding"]})
    return args


def generate_member(rng, mesh, ctx, prefix, grads=False):
    """One case's ops, arguments and results (names start with prefix).
    grads: also its logits (`"logits"`), which the batch's loss reads."""
    g = Gen(rng, mesh, ctx, prefix)
    g.types.update({"tokens": ((ctx["batch"], ctx["seq"]), ctx["dtype"]),
                    "targets": ((ctx["batch"], ctx["seq"]), ctx["dtype"]),
                    "embedding": ((ctx["vocab"], ctx["width"]), "f32")})
    hidden = set(g.types)
    # The context's values may only be picked where an op asks for them.
    g.values = (lambda pred, _v=g.values: [
        n for n in _v(pred) if n not in hidden])
    n_ops = rng.randint(2, 7)
    weights = {k: 1.0 for k in OP_KINDS}
    weights.update({"dot_general": 2.0, "add": 1.5, "sharding_constraint":
                    2.0, "attention": 1.5, "layer_norm": 1.5, "rope": 1.2})
    if grads and not ctx.get("bf16", True):
        # Nothing rounds to bf16 in the batch: its gradients keep the f32
        # tolerance.
        weights["convert"] = 0.0
    kinds = list(weights)
    tries = 0
    while len(g.ops) < n_ops and tries < 50:
        tries += 1
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        v = g.op(kind)
        if v is not None and kind != "sharding_constraint" and \
                rng.random() < P_CONSTRAIN:
            # Users pin intermediate values too: the next op reads the
            # constrained value.
            shape, dtype = g.types[v]
            g.emit("sharding_constraint", [v], shape, dtype,
                   sharding=g.random_sharding(
                       shape, dtype, p_axis=0.6,
                       allow_unreduced=kind in ("dot_general",
                                                "embedding")))
    used = {o for op in g.ops for o in op["operands"]}
    results = []
    for op in g.ops:
        if op["name"] not in used or rng.random() < 0.25:
            sharding = None
            if op["shape"] and rng.random() < 0.4:
                sharding = g.random_sharding(op["shape"], op["dtype"])
            results.append({"value": op["name"], "sharding": sharding})
    member = {"args": g.args, "ops": g.ops, "results": results}
    if grads:
        # Every parameter must reach the loss: the values no op reads, and
        # the parameters an op that was given up on made and left unread.
        sinks = [op["name"] for op in g.ops if op["name"] not in used]
        sinks += [a["name"] for a in g.args
                  if a["kind"] == "param" and a["name"] not in used]
        member["logits"] = g.logits(sinks)
        # The loss reads the targets, its head the tokens and the table.
        g.uses_context |= {"tokens", "targets", "embedding"}
    member["context"] = sorted(g.uses_context)
    return member


def generate_batch(seed, first_case, count, grads=False):
    """`count` cases numbered first_case.. on one random mesh: a program
    whose members are the cases. Case k's own random stream depends only
    on (seed, k), so a case replays alone with the same text."""
    brng = random.Random("batch-%d-%d" % (seed, first_case))
    mesh = random_mesh(brng)
    ctx = random_context(brng, mesh, grads)
    members = []
    for k in range(first_case, first_case + count):
        rng = random.Random("case-%d-%d" % (seed, k))
        m = generate_member(rng, mesh, ctx, "c%d." % k, grads)
        m["case"] = k
        members.append(m)
    return mesh, ctx, members


def build_program(mesh, ctx, members):
    """One function holding the members."""
    used = set()
    for m in members:
        used |= set(m["context"])
    prog = {"mesh": [list(a) for a in mesh], "args": context_args(ctx, used),
            "ops": [], "results": [], "members": []}
    for m in members:
        prog["args"] += copy.deepcopy(m["args"])
        prog["ops"] += copy.deepcopy(m["ops"])
        prog["results"] += copy.deepcopy(m["results"])
        prog["members"].append(m["case"])
    if any("logits" in m for m in members):
        add_loss(prog, ctx, [m["logits"] for m in members])
    return prog


def add_loss(prog, ctx, logits):
    """Gradient mode: the program's loss, one cross entropy of the targets
    over the sum of the tied-embedding head's logits (so that `embedding`,
    which a program reading tokens always has, reaches the loss) and every
    member's logits. One loss per function is what -palm-autodiff
    differentiates, so a batch shares it."""
    prog["grads"] = True
    shape = [ctx["batch"], ctx["seq"], ctx["vocab"]]

    def emit(kind, name, operands, oshape, **attrs):
        prog["ops"].append({"kind": kind, "name": name, "operands": operands,
                            "shape": list(oshape), "dtype": "f32",
                            "attrs": attrs})
        return name

    x = emit("embedding", "head.x", ["embedding", "tokens"],
             [ctx["batch"], ctx["seq"], ctx["width"]])
    total = emit("dot_general", "head.logits", [x, "embedding"], shape,
                 lhs_batch=[], rhs_batch=[], lhs_contracting=[2],
                 rhs_contracting=[1])
    for k, v in enumerate(logits):
        total = emit("add", "head.sum%d" % k, [total, v], shape)
    attrs = {"z_loss": ctx["z_loss"]} if "z_loss" in ctx else {}
    emit("cross_entropy", "loss", [total, "targets"], [], **attrs)
    prog["results"].append({"value": "loss", "sharding": None,
                            "name": "loss"})


# ----------------------------------------------------------------------------
# Printing


def result_name(result, j):
    """The palm.name of the program's j-th result: `<value>.r<j>`, or the
    name it asks for (the loss)."""
    return result.get("name") or "%s.r%d" % (result["value"], j)


def value_types(prog):
    types = {a["name"]: (tuple(a["shape"]), a["dtype"]) for a in prog["args"]}
    for op in prog["ops"]:
        types[op["name"]] = (tuple(op["shape"]), op["dtype"])
    return types


def print_program(prog, one_device=False):
    """The program as a global palm module. one_device: every mesh axis of
    size 1 (the same text otherwise), the 1-process reference."""
    mesh = prog["mesh"]
    types = value_types(prog)
    ssa = {}
    lines = []
    axes = ", ".join("%s = %d" % (a, 1 if one_device else s) for a, s in mesh)
    lines.append("palm.mesh @mesh(%s)" % axes)
    arg_text = []
    for i, a in enumerate(prog["args"]):
        ssa[a["name"]] = "%%arg%d" % i
        attrs = ['palm.name = "%s"' % a["name"]]
        if a["init"]:
            attrs.append("palm.init = #palm.init<%s>" % a["init"])
        if a["sharding"] is not None:
            attrs.append("palm.sharding = #palm.sharding%s" %
                         sharding_str("mesh", a["sharding"]))
        arg_text.append("    %%arg%d: %s {%s}" % (
            i, type_str(a["shape"], a["dtype"]), ", ".join(attrs)))
    res_text = []
    for j, r in enumerate(prog["results"]):
        shape, dtype = types[r["value"]]
        attrs = ['palm.name = "%s"' % result_name(r, j)]
        if r["sharding"] is not None:
            attrs.append("palm.sharding = #palm.sharding%s" %
                         sharding_str("mesh", r["sharding"]))
        res_text.append("%s {%s}" % (type_str(shape, dtype), ", ".join(attrs)))
    lines.append("func.func @forward(\n%s)\n    -> (%s) {" % (
        ",\n".join(arg_text), ",\n        ".join(res_text)))
    op_lines = {}
    for i, op in enumerate(prog["ops"]):
        ssa[op["name"]] = "%%%d" % i
        op_lines[op["name"]] = len(lines) + 1
        lines.append("  %s = %s" % (ssa[op["name"]], print_op(op, ssa,
                                                               types)))
    lines.append("  return %s : %s" % (
        ", ".join(ssa[r["value"]] for r in prog["results"]),
        ", ".join(type_str(*types[r["value"]]) for r in prog["results"])))
    lines.append("}")
    return "\n".join(lines) + "\n", op_lines


def fmt_float(x):
    return "%.9e" % x


def print_op(op, ssa, types):
    k, a = op["kind"], op["attrs"]
    ops = [ssa[o] for o in op["operands"]]
    tys = [type_str(*types[o]) for o in op["operands"]]
    res = type_str(op["shape"], op["dtype"])
    if k == "embedding":
        return "palm.embedding %s[%s] : (%s, %s) -> %s" % (
            ops[0], ops[1], tys[0], tys[1], res)
    if k == "layer_norm":
        attr = (" {epsilon = %s : f32}" % fmt_float(a["epsilon"])
                if "epsilon" in a else "")
        return "palm.layer_norm %s, %s%s : (%s, %s) -> %s" % (
            ops[0], ops[1], attr, tys[0], tys[1], res)
    if k == "dot_general":
        text = "palm.dot_general %s, %s, contracting_dims = %s x %s" % (
            ops[0], ops[1], a["lhs_contracting"], a["rhs_contracting"])
        if a["lhs_batch"]:
            text += ", batch_dims = %s x %s" % (a["lhs_batch"], a["rhs_batch"])
        return text + " : (%s, %s) -> %s" % (tys[0], tys[1], res)
    if k == "rope":
        attr = (" {base = %s : f32}" % fmt_float(a["base"])
                if "base" in a else "")
        return "palm.rope %s%s : %s" % (ops[0], attr, res)
    if k == "attention":
        attrs = []
        if a.get("causal"):
            attrs.append("causal")
        if "scale" in a:
            attrs.append("scale = %s : f32" % fmt_float(a["scale"]))
        attr = " {%s}" % ", ".join(attrs) if attrs else ""
        return "palm.attention %s, %s, %s%s : (%s, %s, %s) -> %s" % (
            ops[0], ops[1], ops[2], attr, tys[0], tys[1], tys[2], res)
    if k in ("add", "mul"):
        return "palm.%s %s, %s : %s" % (k, ops[0], ops[1], res)
    if k == "silu":
        return "palm.silu %s : %s" % (ops[0], res)
    if k == "scale":
        return "palm.scale %s {factor = %s : f32} : %s" % (
            ops[0], fmt_float(a["factor"]), res)
    if k == "convert":
        return "palm.convert %s : %s -> %s" % (ops[0], tys[0], res)
    if k == "cross_entropy":
        attr = (" {z_loss = %s : f32}" % fmt_float(a["z_loss"])
                if "z_loss" in a else "")
        return "palm.cross_entropy %s, %s%s : (%s, %s) -> %s" % (
            ops[0], ops[1], attr, tys[0], tys[1], res)
    if k == "transpose":
        return "palm.transpose %s, permutation = %s : %s -> %s" % (
            ops[0], a["permutation"], tys[0], res)
    if k == "reshape":
        return "palm.reshape %s : %s -> %s" % (ops[0], tys[0], res)
    if k == "sharding_constraint":
        return "palm.sharding_constraint %s to %s : %s" % (
            ops[0], sharding_str("mesh", a["sharding"]), res)
    raise ValueError("unknown op kind %r" % k)


def to_json(prog):
    return json.dumps(prog, sort_keys=True, separators=(",", ":"))


def bf16_tainted(prog):
    """Values computed from a bf16 value anywhere upstream: compared with a
    bf16 tolerance (a rounding that flips by one ulp, 2^-8, is not a bug)."""
    types = value_types(prog)
    tainted = {n for n, (_, dt) in types.items() if dt == "bf16"}
    for op in prog["ops"]:
        if any(o in tainted for o in op["operands"]):
            tainted.add(op["name"])
    return tainted
