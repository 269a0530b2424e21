// Input of diagnostics.test, checked with --verify-diagnostics.

// expected-error @below {{axis 'data' has size 0}}
palm.mesh @mesh(data = 0)

// -----

palm.mesh @mesh(data = 0) loc("model.mesh")
