"""Shrinking a failing program: smaller programs that fail the same way.

Greedy: try each candidate edit in turn (drop a result, cut an op out of the
graph, drop a sharding or one axis of it, drop or shrink a mesh axis),
keep the first that still fails, start again; stop when no edit keeps the
failure or the budget of evaluations is spent.
"""

import copy

INT = ("i32", "i64")
CONTEXT = ("tokens", "targets", "embedding")


def dce(prog):
    """Drops ops and arguments that no result depends on."""
    live = {r["value"] for r in prog["results"]}
    keep = []
    for op in reversed(prog["ops"]):
        if op["name"] in live:
            keep.append(op)
            live.update(op["operands"])
    prog["ops"] = keep[::-1]
    if live & {"tokens", "targets"}:
        live.add("embedding")     # the runtime's vocabulary of the tokens
    prog["args"] = [a for a in prog["args"] if a["name"] in live]
    return prog


def _replace_uses(prog, old, new):
    for op in prog["ops"]:
        op["operands"] = [new if o == old else o for o in op["operands"]]
    for r in prog["results"]:
        if r["value"] == old:
            r["value"] = new


def _fresh(prog, kind):
    names = {a["name"] for a in prog["args"]} | {o["name"] for o in
                                                 prog["ops"]}
    i = 0
    while "s.%s%d" % (kind, i) in names:
        i += 1
    return "s.%s%d" % (kind, i)


def candidates(prog):
    """Edited copies of prog, biggest cuts first."""
    out = []
    if len(prog["results"]) > 1:
        for j in range(len(prog["results"])):
            p = copy.deepcopy(prog)
            del p["results"][j]
            out.append(("drop result %d" % j, dce(p)))
    types = {o["name"]: o for o in prog["ops"]}
    for i in reversed(range(len(prog["ops"]))):
        op = prog["ops"][i]
        # Cut the op out: its value becomes an argument of the same type
        # (a parameter, or zero ids for integers).
        p = copy.deepcopy(prog)
        name = _fresh(p, "p")
        is_int = op["dtype"] in INT
        p["args"].append({"name": name, "shape": op["shape"],
                          "dtype": op["dtype"],
                          "kind": "input" if is_int else "param",
                          "init": None if is_int else "normal(1.0)",
                          "sharding": None})
        _replace_uses(p, op["name"], name)
        out.append(("cut %s %s" % (op["kind"], op["name"]), dce(p)))
        # Or bypass it with an operand of the same type.
        for o in op["operands"]:
            src = types.get(o)
            oshape, odtype = ((src["shape"], src["dtype"]) if src else next(
                (a["shape"], a["dtype"]) for a in prog["args"]
                if a["name"] == o))
            if list(oshape) == list(op["shape"]) and odtype == op["dtype"]:
                p = copy.deepcopy(prog)
                _replace_uses(p, op["name"], o)
                p["ops"] = [x for x in p["ops"] if x["name"] != op["name"]]
                out.append(("bypass %s %s" % (op["kind"], op["name"]),
                            dce(p)))
                break
    # Shardings: whole, then one axis at a time.
    for where in ("args", "results", "ops"):
        for i, item in enumerate(prog[where]):
            sh = (item["attrs"].get("sharding") if where == "ops"
                  else item["sharding"])
            if sh is None:
                continue
            if where != "ops":
                p = copy.deepcopy(prog)
                p[where][i]["sharding"] = None
                out.append(("unannotate %s %d" % (where, i), p))
            for d, axes in enumerate(sh["dims"]):
                for a in axes:
                    p = copy.deepcopy(prog)
                    t = (p[where][i]["attrs"]["sharding"] if where == "ops"
                         else p[where][i]["sharding"])
                    t["dims"][d] = [x for x in t["dims"][d] if x != a]
                    out.append(("drop axis %s of %s %d" % (a, where, i), p))
            for u in sh.get("unreduced") or []:
                p = copy.deepcopy(prog)
                t = (p[where][i]["attrs"]["sharding"] if where == "ops"
                     else p[where][i]["sharding"])
                t["unreduced"] = [x for x in t["unreduced"] if x != u]
                out.append(("drop unreduced %s of %s %d" % (u[0], where, i),
                            p))
    # Mesh axes: drop unused ones, make used ones smaller.
    used = set()
    for item in prog["args"] + prog["results"]:
        if item["sharding"]:
            used |= {a for d in item["sharding"]["dims"] for a in d}
            used |= {a for a, _ in item["sharding"].get("unreduced") or []}
    for op in prog["ops"]:
        sh = op["attrs"].get("sharding")
        if sh:
            used |= {a for d in sh["dims"] for a in d}
            used |= {a for a, _ in sh.get("unreduced") or []}
    for k, (axis, size) in enumerate(prog["mesh"]):
        if axis not in used and len(prog["mesh"]) > 1:
            p = copy.deepcopy(prog)
            del p["mesh"][k]
            out.append(("drop mesh axis %s" % axis, p))
        for smaller in (2, 3, 4):
            if smaller < size and (size, smaller) != (4, 3):
                p = copy.deepcopy(prog)
                p["mesh"][k][1] = smaller
                out.append(("mesh axis %s = %d" % (axis, smaller), p))
    return out


def shrink(prog, still_fails, budget=80, log=None):
    """The smallest program found that still_fails(prog) accepts, and the
    number of evaluations spent."""
    spent = 0
    progress = True
    while progress and spent < budget:
        progress = False
        for what, cand in candidates(prog):
            if spent >= budget:
                break
            spent += 1
            if still_fails(cand):
                if log:
                    log("  shrink: %s (%d ops)" % (what, len(cand["ops"])))
                prog = cand
                progress = True
                break
    return prog, spent
