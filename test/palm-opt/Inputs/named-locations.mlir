// Input of diagnostics.test: the same error at each kind of location.

// A name only, as palm-gen writes them.
palm.mesh @mesh(data = 0) loc("model.mesh")

// -----

// A name over a position in a file that is not at hand.
palm.mesh @mesh(data = 0) loc("model.mesh"("model.mlir":12:5))

// -----

// A name over a position in this file: the source line is shown.
palm.mesh @mesh(data = 0) loc("model.mesh"("Inputs/named-locations.mlir":14:11))

// -----

// Several names (ops fused by a rewrite).
palm.mesh @mesh(data = 0) loc(fused["a.mesh", "b.mesh"])

// -----

// A call site: the callee, then where it was called from.
palm.mesh @mesh(data = 0) loc(callsite("inner.mesh" at "outer"("model.mlir":3:1)))

// -----

// No location at all.
palm.mesh @mesh(data = 0) loc(unknown)
