// Input of exit-code.test.
palm.mesh @mesh(data = 0)
